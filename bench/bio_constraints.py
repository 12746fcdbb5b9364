"""BIO-constrained decoding of the encoder student, off against on, for every trained SNIPS encoder run.

Decoding only (the same weights): each student predicts the split with `bio_constraints` False and True (torch
fp32); intent accuracy, slot F1, sentence accuracy (seqeval conlleval mode).  The default was chosen on the
*valid* split (the default --split); `--split test` gives the test figures afterwards.  Results:
bench/results/bio_constraints.json (`records`: run, split, bio_constraints, intent_acc, slot_f1,
sentence_acc) and a table.

    python bench/bio_constraints.py
    python bench/bio_constraints.py --split test
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from _protocol import RESULTS, STUDENTS, default_data, merge_records, one_thread, read_split, written
from tvd.data.atomic import write_json

os.environ.setdefault("OMP_NUM_THREADS", "1")
RESULTS_FILE = RESULTS / "bio_constraints.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--dataset", default="snips")
    parser.add_argument("--split", default="valid", choices=["valid", "test"])
    parser.add_argument("--students", nargs="+", type=Path, default=None, help="student dirs (default: all encoders)")
    args = parser.parse_args()

    one_thread()
    from tvd.evaluate.metrics import evaluate
    from tvd.students.encoder import EncoderStudent

    gold = read_split(args.data, args.dataset, args.split)
    directories = args.students or sorted(p.parent for p in STUDENTS.glob(f"encoder-{args.dataset}*/student.json"))
    records = []
    for directory in directories:
        student = EncoderStudent.load(directory, runtime="torch")
        for constrained in (False, True):
            student.bio_constraints = constrained
            metrics = evaluate(gold, student.predict(gold))
            record = {"run": directory.name, "split": args.split, "bio_constraints": constrained}
            records.append({**record, **metrics.headline(percent=True)})
            print(records[-1])
    records = merge_records(RESULTS_FILE, records, key=lambda r: (r["run"], r["split"]))
    write_json(
        RESULTS_FILE,
        {
            "benchmark": "bio_constraints",
            "command": "python bench/bio_constraints.py [--split valid|test]",
            "metric": "seqeval default (conlleval) mode; torch fp32",
            "written": written(),
            "records": records,
        },
    )
    print(f"\n{'run':40} {'split':6} {'off: slot F1':>12} {'sentence':>9} {'on: slot F1':>12} {'sentence':>9}")
    for off, on in zip(records[::2], records[1::2], strict=True):
        print(
            f"{off['run']:40} {off['split']:6} {off['slot_f1']:12.2f} {off['sentence_acc']:9.2f} "
            f"{on['slot_f1']:12.2f} {on['sentence_acc']:9.2f}"
        )


if __name__ == "__main__":
    main()
