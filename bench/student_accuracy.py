"""Full-data accuracy of the students on SNIPS and ATIS: CRF, encoder fp32 (torch) and encoder int8 (ONNX Runtime).

Trains each (dataset, student, parameters) once into its own work directory under bench/work/students/, named
after the parameters given (``crf-snips``, ``encoder-snips-epochs10``, ``encoder-snips-valsel-epochs10-seed1``;
the encoder keeps a per-epoch checkpoint there, so a killed run resumes, and a finished one is only re-scored),
exports the encoder to ONNX fp32 + dynamic int8, scores all on the test split (seqeval conlleval mode) and
records how often int8 and fp32 predictions agree.  Results: bench/results/student_accuracy.json (`records`:
dataset, run, student, intent_acc, slot_f1, sentence_acc, train_seconds, ...; runs not repeated are kept).

    python bench/student_accuracy.py --datasets snips atis --students crf
    python bench/student_accuracy.py --datasets snips --students encoder --epochs 10 --select-on-valid --seed 1
    python bench/student_accuracy.py --datasets snips --students encoder --epochs 14 --param dropout=0.2
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from _protocol import RESULTS, STUDENTS, default_data, merge_records, one_thread, read_split, written
from tvd.data.atomic import write_json

os.environ.setdefault("OMP_NUM_THREADS", "1")
RESULTS_FILE = RESULTS / "student_accuracy.json"

# int8 vs fp32 tolerance: intent agreement on >= 99.5% of test utterances and slot F1 within 0.5 points.
INTENT_AGREEMENT_MIN = 0.995
SLOT_F1_TOLERANCE = 0.5


def run_directory(kind: str, dataset: str, params: dict[str, Any], select_on_valid: bool) -> Path:
    """The work directory of one training: ``encoder-snips[-valsel][-dropout0.2][-epochs10][-seed1]``, naming
    every parameter given on the command line."""
    suffix = "".join(f"-{k}{v}" for k, v in sorted(params.items()))
    return STUDENTS / (f"{kind}-{dataset}" + ("-valsel" if select_on_valid else "") + suffix)


def train_if_needed(
    directory: Path, kind: str, train: list, params: dict[str, Any], validation: list | None = None
) -> float:
    from tvd.students import make_student
    from tvd.students.base import METADATA_FILE

    if not (directory / METADATA_FILE).is_file():
        extra = {"checkpoint_dir": str(directory / "checkpoint")} if kind == "encoder" else {}
        print(f"training {kind} into {directory} ({len(train)} utterances) ...")
        student = make_student(kind, **params, **extra)
        fit_options: dict[str, Any] = {}
        if kind == "encoder":
            from tvd.students.encoder_train import print_progress

            fit_options["progress"] = print_progress
        if validation:
            student.fit(train, validation=validation, **fit_options)
        else:
            student.fit(train, **fit_options)
        student.save(directory)
    info = json.loads((directory / METADATA_FILE).read_text())["training"]
    return float(info["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data(), help="folder holding snips/ and atis/")
    parser.add_argument("--datasets", nargs="+", default=["snips", "atis"])
    parser.add_argument("--students", nargs="+", default=["crf", "encoder"])
    parser.add_argument("--epochs", type=int, default=None, help="encoder epochs (default: the student's)")
    parser.add_argument("--lr", type=float, default=None, help="encoder learning rate (default: the student's)")
    parser.add_argument("--seed", type=int, default=None, help="encoder seed (default: the student's); dir *-seedN")
    param = "another encoder student parameter (YAML value, e.g. dropout=0.2); work dir *-NAMEVALUE"
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=param)
    select = "encoder: score the valid split after every epoch and keep the best epoch (work dir *-valsel)"
    parser.add_argument("--select-on-valid", action="store_true", help=select)
    args = parser.parse_args()

    one_thread()
    from tvd.evaluate.metrics import evaluate
    from tvd.students.encoder import ONNX_INT8_FILE, EncoderStudent
    from tvd.students.onnx_export import export_onnx, prediction_agreement

    records = []
    mode = "validation" if args.select_on_valid else "last epoch"
    encoder_params: dict[str, Any] = {
        k: v for k, v in {"epochs": args.epochs, "lr": args.lr, "seed": args.seed}.items() if v is not None
    }
    for item in args.param:
        name, _, value = item.partition("=")
        encoder_params[name] = yaml.safe_load(value)
    for dataset in args.datasets:
        train, test = read_split(args.data, dataset, "train"), read_split(args.data, dataset, "test")
        for kind in args.students:
            encoder = kind == "encoder"
            validation = read_split(args.data, dataset, "valid") if encoder and args.select_on_valid else None
            params = encoder_params if encoder else {}
            directory = run_directory(kind, dataset, params, validation is not None)
            seconds = train_if_needed(directory, kind, train, params, validation)
            base = {
                "dataset": dataset,
                "run": directory.name,
                "command": "python bench/student_accuracy.py " + " ".join(sys.argv[1:]),
                "train_seconds": round(seconds, 1),
                "n_train": len(train),
                "n_test": len(test),
            }
            if kind == "crf":
                from tvd.students import load_student

                scores = evaluate(test, load_student(directory).predict(test)).headline(percent=True)
                records.append({**base, "student": "crf", **scores})
                print(records[-1])
                continue
            if not (directory / ONNX_INT8_FILE).is_file():
                export_onnx(directory)
            fp32 = EncoderStudent.load(directory, runtime="torch")
            fp32_pred = fp32.predict(test)
            int8_pred = EncoderStudent.load(directory, runtime="onnx-int8").predict(test)
            fp32_scores = evaluate(test, fp32_pred).headline(percent=True)
            int8_scores = evaluate(test, int8_pred).headline(percent=True)
            agreement = prediction_agreement(fp32_pred, int8_pred)
            within = (
                agreement["intent_agreement"] >= INTENT_AGREEMENT_MIN
                and abs(fp32_scores["slot_f1"] - int8_scores["slot_f1"]) <= SLOT_F1_TOLERANCE
            )
            meta = json.loads((directory / "student.json").read_text())
            common = {
                **base,
                "params": meta["params"],
                "bio_constraints": fp32.bio_constraints,  # decoding (students trained before it load with it on)
                "epoch_seconds": meta["training"].get("epoch_seconds"),
                "selection_mode": mode,
                "selection": meta["training"].get("validation", "last epoch"),
            }
            records.append({**common, "student": "encoder-fp32", **fp32_scores})
            int8 = {"agreement_with_fp32": agreement, "within_tolerance": within}
            records.append({**common, "student": "encoder-int8", **int8_scores, **int8})
            print(records[-2], records[-1], sep="\n")
    # merge with the records on file now (another run may have written since this one started), under a lock
    STUDENTS.mkdir(parents=True, exist_ok=True)
    with open(STUDENTS.parent / "student_accuracy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        records = merge_records(RESULTS_FILE, records, key=lambda r: (r["dataset"], r.get("run"), r["student"]))
        write_json(
            RESULTS_FILE,
            {
                "benchmark": "student_accuracy",
                "command": "python bench/student_accuracy.py ... (each record gives the command that scored it)",
                "tolerance": {"intent_agreement_min": INTENT_AGREEMENT_MIN, "slot_f1_points": SLOT_F1_TOLERANCE},
                "metric": "seqeval default (conlleval) mode; test split",
                "threads": 1,
                "written": written(),
                "records": records,
            },
        )
    print(f"\n{'run':40} {'student':14} {'intent':>7} {'slot F1':>8} {'sentence':>9} {'train s':>8}")
    for r in records:
        print(
            f"{r['run']:40} {r['student']:14} {r['intent_acc']:7.2f} {r['slot_f1']:8.2f} "
            f"{r['sentence_acc']:9.2f} {r['train_seconds']:8.0f}"
        )


if __name__ == "__main__":
    main()
