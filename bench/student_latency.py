"""In-process latency of the students at batch 1 on one thread: CRF, encoder fp32 (torch), encoder int8 (ONNX).

Each student predicts the SNIPS test utterances one at a time (`predict([text])`, tokenisation and decoding
included) after a warm-up; p50 / p99 per run; the figures are medians over --runs runs.  Uses the students
trained by bench/student_accuracy.py (bench/work/students/crf-snips and, --encoder-run, encoder-snips-epochs10).
Results: bench/results/student_latency.json (`records`: student, p50_ms, p99_ms, ...).

    python bench/student_latency.py
    python bench/student_latency.py --runs 5 --n 700
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from _protocol import RESULTS, default_data, one_thread, read_split, trained_student, written
from _protocol import command as command_line
from tvd.data.atomic import write_json
from tvd.evaluate.latency import latency_summary, predict_latencies_ms

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--dataset", default="snips")
    run = "folder under bench/work/students of the encoder student (from bench/student_accuracy.py)"
    parser.add_argument("--encoder-run", default="encoder-{dataset}-epochs10", help=run)
    parser.add_argument("--students", nargs="+", default=["crf", "encoder-fp32", "encoder-int8"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=700, help="utterances per run")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    one_thread()
    from tvd.students import load_student
    from tvd.students.encoder import EncoderStudent

    texts = [u.text for u in read_split(args.data, args.dataset, "test")][: args.n]
    records = []
    for name in args.students:
        kind = name.split("-")[0]
        directory = trained_student(kind, args.dataset, args.encoder_run)
        if kind == "crf":
            student = load_student(directory)
        else:
            student = EncoderStudent.load(directory, runtime="torch" if name == "encoder-fp32" else "onnx-int8")
        predict_latencies_ms(student, texts[: args.warmup])
        runs = [latency_summary(predict_latencies_ms(student, texts)) for _ in range(args.runs)]
        record = {
            "student": name,
            "dataset": args.dataset,
            **{key: round(statistics.median(r[key] for r in runs), 3) for key in ("p50_ms", "p99_ms", "mean_ms")},
            "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
            "n_per_run": len(texts),
        }
        records.append(record)
        print(f"{name:14s} p50 {record['p50_ms']:7.3f} ms  p99 {record['p99_ms']:7.3f} ms")
    write_json(
        RESULTS / "student_latency.json",
        {
            "benchmark": "student_latency",
            "command": command_line("student_latency.py", None),
            "settings": {
                "batch": 1,
                "threads": 1,
                "runs": args.runs,
                "warmup": args.warmup,
                "statistic": "median of runs",
            },
            "load_average_1m": os.getloadavg()[0],
            "written": written(),
            "records": records,
        },
    )


if __name__ == "__main__":
    main()
