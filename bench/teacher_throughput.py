"""Teacher throughput: the embedded model through `tvd` versus llama.cpp called directly, and over HTTP.

The same LINGUIST prompts (planned from the shipped example's seed utterances), the same decoding settings
(grammar-constrained, seeded, one completion per prompt) go through

  direct              llama-cpp-python's own ``Llama.create_completion`` with ``LlamaGrammar`` (what a user
                      of llama.cpp would write), in this process
  tvd-embedded        ``tvd``'s engine and ``LlamaCppTeacher`` (grammar checked on the top-k shortlist first)
  tvd-embedded-exact  the same with ``grammar_shortlist=False``: grammar applied to the full vocabulary, as
                      ``direct`` does; the like-for-like overhead of ``tvd``'s engine, cache and parser
  http                ``tvd``'s engine and ``OpenAITeacher`` against ``python -m llama_cpp.server`` on
                      127.0.0.1 (grammar sent in the request), at concurrency 1, 2 and 4

Each round runs every path once on a fresh cache, in an order rotated per round, so machine load hits all
paths alike; medians over rounds.  Results: bench/results/teacher_throughput.json (``records``: ``path``,
``concurrency``, ``tokens_per_s``, ``utterances_per_s``, per round) and a table with the ratios.

    python bench/teacher_throughput.py                # 3 rounds x 12 prompts
    python bench/teacher_throughput.py --rounds 1 --prompts 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _protocol import REPO, RESULTS, free_port, local_server, stamp
from tvd.config import load_config
from tvd.data.atomic import write_json
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import EngineSettings
from tvd.engine.generate import SEED_STRIDE, generate
from tvd.jobs.run import load_run_data, plan
from tvd.linguist.task import LinguistTask
from tvd.report.summary import summarise as summarise_records
from tvd.report.table import format_table
from tvd.teachers.base import GenerationParams
from tvd.teachers.embedded_model import default_model_path
from tvd.teachers.llamacpp import LlamaCppTeacher
from tvd.teachers.openai_http import OpenAITeacher

EXAMPLE = REPO / "examples" / "new-intent" / "config.yaml"
PARAMS = GenerationParams(max_tokens=48, temperature=0.9, top_p=0.95, top_k=40, seed=0)
TASK = LinguistTask()


def requests_for(count: int) -> list[Any]:
    config = load_config(EXAMPLE)
    return plan(config, load_run_data(config, log=lambda *_: None), requests=count)


def run_direct(llm: Any, requests: list[Any]) -> dict[str, float]:
    """llama-cpp-python alone: one create_completion per prompt with its grammar (the engine's seeds)."""
    import llama_cpp

    tokens = 0
    started = time.perf_counter()
    for index, request in enumerate(requests):
        grammar = llama_cpp.LlamaGrammar.from_string(TASK.grammar(request), verbose=False)
        response = llm.create_completion(
            TASK.prompt(request),
            max_tokens=PARAMS.max_tokens,
            temperature=PARAMS.temperature,
            top_p=PARAMS.top_p,
            top_k=PARAMS.top_k,
            min_p=0.0,
            seed=PARAMS.seed + index * SEED_STRIDE,
            stop=list(PARAMS.stop),
            grammar=grammar,
        )
        tokens += response["usage"]["completion_tokens"]
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "completion_tokens": tokens, "utterances": len(requests)}


def run_tvd(teacher: Any, requests: list[Any], concurrency: int = 1) -> dict[str, float]:
    """The engine: planning done, cache fresh, grammar on, parser on."""
    with tempfile.TemporaryDirectory() as tmp, CompletionCache(Path(tmp) / "cache.sqlite") as cache:
        started = time.perf_counter()
        result = generate(
            TASK,
            requests,
            teacher,
            cache,
            params=PARAMS,
            progress=False,
            settings=EngineSettings(concurrency=concurrency),
        )
        seconds = time.perf_counter() - started
    stats = result.stats
    return {
        "seconds": seconds,
        "completion_tokens": stats.completion_tokens,
        "utterances": stats.samples,
        "accepted": stats.accepted,
    }


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians per (path, concurrency), direct first, and each path's speed relative to direct."""
    values = ["tokens_per_s", "utterances_per_s"]
    rows = summarise_records(records, ["path", "concurrency"], values, statistics.median, count="rounds")
    rows.sort(key=lambda row: (row["path"] != "direct", (row["path"], row["concurrency"])))
    direct = next((r for r in rows if r["path"] == "direct"), None)
    for row in rows:
        if direct:
            row["speed_vs_direct"] = row["utterances_per_s"] / direct["utterances_per_s"]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=12, help="prompts per path and round")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (in process and server)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4], help="HTTP concurrency levels")
    parser.add_argument("--out", type=Path, default=RESULTS / "teacher_throughput.json")
    args = parser.parse_args(argv)

    import llama_cpp

    requests = requests_for(args.prompts)
    model = default_model_path()
    direct = llama_cpp.Llama(model_path=str(model), n_ctx=2048, n_threads=args.threads, verbose=False)
    shortlist = LlamaCppTeacher(n_threads=args.threads)
    exact = LlamaCppTeacher(n_threads=args.threads, grammar_shortlist=False)
    records: list[dict[str, Any]] = []
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    server += ["--port", str(port), "--n_threads", str(args.threads), "--n_ctx", "2048"]
    with local_server(server, f"{url}/models"):
        http = OpenAITeacher(url, "gemma-3-270m", grammar_field=True, extended_sampling=True, timeout_s=300)
        paths: list[tuple[str, int, Any]] = [
            ("direct", 1, lambda: run_direct(direct, requests)),
            ("tvd-embedded", 1, lambda: run_tvd(shortlist, requests)),
            ("tvd-embedded-exact", 1, lambda: run_tvd(exact, requests)),
        ]
        paths += [("http", c, lambda c=c: run_tvd(http, requests, concurrency=c)) for c in args.concurrency]
        for round_ in range(args.rounds):
            shift = round_ % len(paths)
            for path, concurrency, run in paths[shift:] + paths[:shift]:
                result = run()
                record = {
                    "path": path,
                    "concurrency": concurrency,
                    "round": round_,
                    "tokens_per_s": result["completion_tokens"] / result["seconds"],
                    "utterances_per_s": result["utterances"] / result["seconds"],
                    **{k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()},
                }
                records.append(record)
                print(
                    f"round {round_} {path:18s} c={concurrency}: {record['utterances_per_s']:.2f} utt/s, "
                    f"{record['tokens_per_s']:.1f} tok/s"
                )
    summary = summarise(records)
    table = format_table(
        [
            {
                **row,
                "tokens_per_s": f"{row['tokens_per_s']:.1f}",
                "utterances_per_s": f"{row['utterances_per_s']:.2f}",
                "speed_vs_direct": f"{row.get('speed_vs_direct', 0):.2f}x",
            }
            for row in summary
        ],
        [
            "path",
            "concurrency",
            "rounds",
            ("tokens_per_s", "tokens/s"),
            ("utterances_per_s", "utterances/s"),
            ("speed_vs_direct", "vs direct"),
        ],
        title=f"Teacher throughput, Gemma 3 270M, {args.threads} thread(s), medians of {args.rounds} rounds",
    )
    settings = {"prompts": args.prompts, "rounds": args.rounds, "threads": args.threads, "params": PARAMS.to_dict()}
    write_json(
        args.out,
        {**stamp("teacher_throughput.py", argv), "settings": settings, "summary": summary, "records": records},
    )
    print(f"\n{table}\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
