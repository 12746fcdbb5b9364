"""Which int8 scheme to export: every scheme of tvd.students.onnx_export.INT8_SCHEMES scored on the *valid* split.

For each trained encoder student given (default: the SNIPS ones under bench/work/students/), exports every int8
scheme into a scratch copy, predicts the valid split with ONNX Runtime and compares against fp32 (torch) on the
same split: intent accuracy, slot F1, sentence accuracy, agreement with fp32, file size, and per-utterance
latency (batch 1, one thread; schemes interleaved, median of --runs runs, so ratios are side by side).  The
test split is not read: the default scheme is chosen here, and the test figures come from
bench/student_accuracy.py.  Results: bench/results/int8_schemes.json and a table.

    python bench/int8_schemes.py
    python bench/int8_schemes.py --students bench/work/students/encoder-snips-epochs10 --runs 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from _protocol import RESULTS, STUDENTS, default_data, one_thread, read_split, written
from _protocol import command as command_line
from tvd.data.atomic import write_json
from tvd.evaluate.latency import predict_latencies_ms

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--dataset", default="snips")
    parser.add_argument(
        "--students", nargs="+", type=Path, default=None, help="student dirs (default: all of the dataset's encoders)"
    )
    parser.add_argument("--runs", type=int, default=3, help="latency runs (schemes interleaved)")
    parser.add_argument("--latency-n", type=int, default=200, help="valid utterances per latency run")
    args = parser.parse_args()

    one_thread()
    from tvd.evaluate.metrics import evaluate
    from tvd.students.encoder import ONNX_FILE, ONNX_INT8_FILE, EncoderStudent
    from tvd.students.onnx_export import INT8_SCHEMES, export_onnx, prediction_agreement

    valid = read_split(args.data, args.dataset, "valid")
    texts = [u.text for u in valid][: args.latency_n]
    directories = args.students or sorted(p.parent for p in STUDENTS.glob(f"encoder-{args.dataset}*/student.json"))
    records = []
    for directory in directories:
        fp32 = EncoderStudent.load(directory, runtime="torch").predict(valid)
        fp32_scores = evaluate(valid, fp32).headline(percent=True)
        print(f"{directory.name}: fp32 {fp32_scores}")
        students = {}
        with tempfile.TemporaryDirectory() as scratch:
            for scheme in INT8_SCHEMES:
                copy = Path(scratch) / scheme
                shutil.copytree(directory, copy, ignore=shutil.ignore_patterns("checkpoint", ONNX_INT8_FILE))
                if not (copy / ONNX_FILE).is_file():
                    export_onnx(copy, quantize=False)
                export_onnx(copy, int8_scheme=scheme)
                students[scheme] = EncoderStudent.load(copy, runtime="onnx-int8")
                predicted = students[scheme].predict(valid)
                records.append(
                    {
                        "student": directory.name,
                        "scheme": scheme,
                        "split": "valid",
                        **evaluate(valid, predicted).headline(percent=True),
                        "fp32": fp32_scores,
                        "agreement_with_fp32": prediction_agreement(fp32, predicted),
                        "bytes": (copy / ONNX_INT8_FILE).stat().st_size,
                    }
                )
                print(records[-1])
            latencies: dict[str, list[float]] = {scheme: [] for scheme in students}
            for student in students.values():
                student.predict(texts[:20])  # warm-up
            for _ in range(args.runs):
                for scheme, student in students.items():
                    latencies[scheme].append(statistics.median(predict_latencies_ms(student, texts)))
        for record in records[-len(students) :]:
            record["p50_ms_runs"] = [round(x, 3) for x in latencies[record["scheme"]]]
            record["p50_ms"] = round(statistics.median(latencies[record["scheme"]]), 3)
    write_json(
        RESULTS / "int8_schemes.json",
        {
            "benchmark": "int8_schemes",
            "command": command_line("int8_schemes.py", None),
            "metric": "seqeval default (conlleval) mode; valid split",
            "latency": f"median per-utterance ms at batch 1, one thread, first {len(texts)} valid utterances, "
            f"median of {args.runs} interleaved runs",
            "written": written(),
            "records": records,
        },
    )
    header = f"{'student':28} {'scheme':16} {'intent':>7} {'slot F1':>8} {'sentence':>9} {'fp32 F1':>8}"
    print(f"\n{header} {'MB':>6} {'p50 ms':>7}")
    for r in records:
        print(
            f"{r['student']:28} {r['scheme']:16} {r['intent_acc']:7.2f} {r['slot_f1']:8.2f} {r['sentence_acc']:9.2f} "
            f"{r['fp32']['slot_f1']:8.2f} {r['bytes'] / 1e6:6.1f} {r['p50_ms']:7.2f}"
        )


if __name__ == "__main__":
    main()
