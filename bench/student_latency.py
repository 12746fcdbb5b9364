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
import sys
import time
from pathlib import Path

from tvd.data.atomic import write_json

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "work" / "students"
RESULTS = REPO / "bench" / "results" / "student_latency.json"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TVD_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--dataset", default="snips")
    parser.add_argument(
        "--encoder-run",
        default="encoder-{dataset}-epochs10",
        help="work directory (under bench/work/students) of the encoder student, from bench/student_accuracy.py",
    )
    parser.add_argument("--students", nargs="+", default=["crf", "encoder-fp32", "encoder-int8"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=700, help="utterances per run")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from tvd.formats import read_dataset
    from tvd.students import load_student
    from tvd.students.encoder import EncoderStudent

    test_folder = args.data / args.dataset / "test"
    if not (test_folder / "seq.in").is_file():
        sys.exit(f"{test_folder} not found: pass --data DIR or set TVD_DATA")
    texts = [u.text for u in read_dataset(test_folder, "bio").utterances][: args.n]
    records = []
    for name in args.students:
        kind = name.split("-")[0]
        directory = WORK / (
            args.encoder_run.format(dataset=args.dataset) if kind == "encoder" else f"crf-{args.dataset}"
        )
        if not (directory / "student.json").is_file():
            sys.exit(f"{directory} has no student: run bench/student_accuracy.py first")
        if kind == "crf":
            student = load_student(directory)
        else:
            student = EncoderStudent.load(directory, runtime="torch" if name == "encoder-fp32" else "onnx-int8")
        for text in texts[: args.warmup]:
            student.predict([text])
        runs = []
        for _ in range(args.runs):
            times = []
            for text in texts:
                started = time.perf_counter()
                student.predict([text])
                times.append((time.perf_counter() - started) * 1000)
            runs.append(
                {"p50_ms": _percentile(times, 50), "p99_ms": _percentile(times, 99), "mean_ms": sum(times) / len(times)}
            )
        record = {
            "student": name,
            "dataset": args.dataset,
            "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 3),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 3),
            "mean_ms": round(statistics.median(r["mean_ms"] for r in runs), 3),
            "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
            "n_per_run": len(texts),
        }
        records.append(record)
        print(f"{name:14s} p50 {record['p50_ms']:7.3f} ms  p99 {record['p99_ms']:7.3f} ms", flush=True)
    write_json(
        RESULTS,
        {
            "benchmark": "student_latency",
            "command": "python bench/student_latency.py " + " ".join(sys.argv[1:]),
            "settings": {
                "batch": 1,
                "threads": 1,
                "runs": args.runs,
                "warmup": args.warmup,
                "statistic": "median of runs",
            },
            "load_average_1m": os.getloadavg()[0],
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "records": records,
        },
    )


if __name__ == "__main__":
    main()
