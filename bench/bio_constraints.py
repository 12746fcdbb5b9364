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
import json
import os
import sys
import time
from pathlib import Path

from tvd.data.atomic import write_json

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "work" / "students"
RESULTS = REPO / "bench" / "results" / "bio_constraints.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TVD_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--dataset", default="snips")
    parser.add_argument("--split", default="valid", choices=["valid", "test"])
    parser.add_argument("--students", nargs="+", type=Path, default=None, help="student dirs (default: all encoders)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from tvd.evaluate.metrics import evaluate
    from tvd.formats import read_dataset
    from tvd.students.encoder import EncoderStudent

    folder = args.data / args.dataset / args.split
    if not (folder / "seq.in").is_file():
        sys.exit(f"{folder} not found: pass --data DIR or set TVD_DATA")
    gold = read_dataset(folder, "bio").utterances
    directories = args.students or sorted(p.parent for p in WORK.glob(f"encoder-{args.dataset}*/student.json"))
    records = []
    for directory in directories:
        student = EncoderStudent.load(directory, runtime="torch")
        for constrained in (False, True):
            student.bio_constraints = constrained
            metrics = evaluate(gold, student.predict(gold))
            records.append(
                {
                    "run": directory.name,
                    "split": args.split,
                    "bio_constraints": constrained,
                    "intent_acc": round(100 * metrics.intent_accuracy, 2),
                    "slot_f1": round(100 * metrics.slot_f1, 2),
                    "sentence_acc": round(100 * metrics.sentence_accuracy, 2),
                }
            )
            print(records[-1], flush=True)
    new = {(r["run"], r["split"]) for r in records}
    kept = json.loads(RESULTS.read_text()).get("records", []) if RESULTS.is_file() else []
    records = [r for r in kept if (r["run"], r["split"]) not in new] + records
    write_json(
        RESULTS,
        {
            "benchmark": "bio_constraints",
            "command": "python bench/bio_constraints.py [--split valid|test]",
            "metric": "seqeval default (conlleval) mode; torch fp32",
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
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
