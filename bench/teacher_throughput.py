"""Teacher throughput: the embedded model through `tvd` versus llama.cpp called directly, and over HTTP.

The same LINGUIST prompts (planned from the shipped example's seed utterances), the same decoding settings
(grammar-constrained, seeded, one completion per prompt) go through

  direct              llama-cpp-python's own ``Llama.create_completion`` with ``LlamaGrammar`` (what a user
                      of llama.cpp would write), in this process
  tvd-embedded        ``tvd``'s engine and ``LlamaCppTeacher`` (grammar checked on the top-k shortlist first)
  tvd-embedded-exact  the same with ``grammar_shortlist=False``: grammar applied to the full vocabulary, as
                      ``direct`` does; the like-for-like overhead of ``tvd``'s engine, cache and parser
  tvd-embedded-batched  the same with ``batch_width`` = ``--widths`` (width 1 is ``tvd-embedded``, the
                      default teacher): lanes decoded together, refilled as they finish
  direct-batched      the anchor: llama.cpp alone through the low-level bindings, ``width`` sequences decoded
                      together (per-sequence KV, each prompt evaluated in its own sequence), greedy argmax,
                      ``ANCHOR_TOKENS`` tokens each, no grammar, no sampler: the limit of batching here
  http                ``tvd``'s engine and ``OpenAITeacher`` against ``python -m llama_cpp.server`` on
                      127.0.0.1 (grammar sent in the request), at concurrency 1, 2 and 4

Each round runs every path once on a fresh cache, in an order rotated per round, so machine load hits all
paths alike; medians over rounds; every thread count in ``--threads`` is its own set of paths.  Results:
bench/results/teacher_throughput.json (``records``: ``path``, ``threads``, ``width``, ``concurrency``,
``tokens_per_s``, ``utterances_per_s``, per round) and a table with the ratios.

    python bench/teacher_throughput.py                # 3 rounds x 12 prompts, all paths
    python bench/teacher_throughput.py --rounds 1 --prompts 4
    python bench/teacher_throughput.py --paths tvd-embedded-batched direct-batched --widths 1 4 8 16 --threads 1 2
"""

from __future__ import annotations

import argparse
import contextlib
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
PATHS = ("direct", "tvd-embedded", "tvd-embedded-exact", "tvd-embedded-batched", "direct-batched", "http")
ANCHOR_TOKENS = 30  # per sequence in direct-batched: about what the grammar-constrained paths generate
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


def run_direct_batched(model: Path, requests: list[Any], width: int, threads: int) -> dict[str, float]:
    """The anchor: llama.cpp's batched decoding through the bindings, ``width`` sequences per step, no sampler.

    Each group of ``width`` prompts is evaluated (one sequence each, whole prompt in one batch), then decoded
    together for ``ANCHOR_TOKENS`` steps, the next token being the argmax (as llama.cpp's ``batched`` example
    does with a greedy sampler).  Context and model loading are outside the timing."""
    import llama_cpp as lib
    import numpy as np

    params = lib.llama_context_default_params()
    params.n_ctx = 2048 * width
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = width
    params.kv_unified = False
    params.n_threads = params.n_threads_batch = threads
    params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
    llm = _anchor_model(model)
    ctx = lib.llama_init_from_model(llm._model.model, params)
    memory = lib.llama_get_memory(ctx)
    batch = lib.llama_batch_init(512, 0, 1)
    n_vocab = llm.n_vocab()

    def decode(rows: list[tuple[int, int, int, bool]]) -> None:
        batch.n_tokens = len(rows)
        for i, (token, position, seq, logits) in enumerate(rows):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, position, 1, logits
            batch.seq_id[i][0] = seq
        if lib.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")

    prompts = [llm.tokenize(TASK.prompt(request).encode("utf-8"), add_bos=True, special=True) for request in requests]
    tokens = 0
    decode_seconds = 0.0
    try:
        started = time.perf_counter()
        for first in range(0, len(prompts), width):
            group = prompts[first : first + width]
            heads, positions = [], []
            for seq, prompt in enumerate(group):
                lib.llama_memory_seq_rm(memory, seq, -1, -1)
                for start in range(0, len(prompt) - 1, 512):
                    chunk = prompt[start : min(start + 512, len(prompt) - 1)]
                    decode([(token, start + i, seq, False) for i, token in enumerate(chunk)])
                heads.append(prompt[-1])
                positions.append(len(prompt) - 1)
            decode_started = time.perf_counter()
            for _ in range(ANCHOR_TOKENS):
                decode([(heads[seq], positions[seq], seq, True) for seq in range(len(group))])
                for seq in range(len(group)):
                    logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, seq), shape=(n_vocab,))
                    heads[seq] = int(np.argmax(logits))
                    positions[seq] += 1
            decode_seconds += time.perf_counter() - decode_started
            tokens += ANCHOR_TOKENS * len(group)
        seconds = time.perf_counter() - started
    finally:
        lib.llama_batch_free(batch)
        lib.llama_free(ctx)
    return {
        "seconds": seconds,
        "completion_tokens": tokens,
        "utterances": len(requests),
        "decode_tokens_per_s": tokens / decode_seconds,
    }


_ANCHOR: dict[Path, Any] = {}


def _anchor_model(model: Path) -> Any:
    """The model the anchor's contexts are made from (loaded once; its own small context is unused)."""
    import llama_cpp

    if model not in _ANCHOR:
        _ANCHOR[model] = llama_cpp.Llama(model_path=str(model), n_ctx=64, n_threads=1, verbose=False)
    return _ANCHOR[model]


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
    """Medians per (path, threads, width, concurrency), and each row's speed relative to the default
    teacher (``tvd-embedded-batched`` width 1, else ``tvd-embedded``) at one thread, and to ``direct``."""
    values = ["tokens_per_s", "utterances_per_s", "well_formed"]
    keys = ["path", "threads", "width", "concurrency"]
    for record in records:
        record.setdefault("threads", 1)
        record.setdefault("width", 1)
        record.setdefault("well_formed", record["accepted"] / record["utterances"] if "accepted" in record else None)
    rows = summarise_records(
        [{**r, "well_formed": r["well_formed"] if r["well_formed"] is not None else float("nan")} for r in records],
        keys,
        values,
        statistics.median,
        count="rounds",
    )
    for row in rows:
        if row["well_formed"] != row["well_formed"]:  # NaN: a path without a parser (direct, direct-batched)
            row["well_formed"] = None
    rows.sort(key=lambda row: (PATHS.index(row["path"]), row["threads"], row["width"], row["concurrency"]))
    direct = next((r for r in rows if r["path"] == "direct" and r["threads"] == 1), None)
    default = next(
        (
            r
            for path in ("tvd-embedded-batched", "tvd-embedded")
            for r in rows
            if r["path"] == path and r["width"] == 1 and r["threads"] == 1
        ),
        None,
    )
    for row in rows:
        if direct:
            row["speed_vs_direct"] = row["utterances_per_s"] / direct["utterances_per_s"]
        if default:
            row["speed_vs_default"] = row["utterances_per_s"] / default["utterances_per_s"]
    return rows


def paths_for(args: argparse.Namespace, threads: int, model: Path, requests: list[Any], http: Any) -> list[Any]:
    """``(path, width, concurrency, run)`` for every path asked for, at ``threads`` llama.cpp threads."""
    paths: list[tuple[str, int, int, Any]] = []
    if "direct" in args.paths:
        import llama_cpp

        direct = llama_cpp.Llama(model_path=str(model), n_ctx=2048, n_threads=threads, verbose=False)
        paths.append(("direct", 1, 1, lambda: run_direct(direct, requests)))
    if "tvd-embedded" in args.paths:
        shortlist = LlamaCppTeacher(n_threads=threads)
        paths.append(("tvd-embedded", 1, 1, lambda: run_tvd(shortlist, requests)))
    if "tvd-embedded-exact" in args.paths:
        exact = LlamaCppTeacher(n_threads=threads, grammar_shortlist=False)
        paths.append(("tvd-embedded-exact", 1, 1, lambda: run_tvd(exact, requests)))
    for width in args.widths if "tvd-embedded-batched" in args.paths else []:
        batched = LlamaCppTeacher(n_threads=threads, batch_width=width)
        paths.append(("tvd-embedded-batched", width, 1, lambda t=batched: run_tvd(t, requests)))
    for width in args.widths if "direct-batched" in args.paths else []:
        paths.append(("direct-batched", width, 1, lambda w=width: run_direct_batched(model, requests, w, threads)))
    if http is not None:
        paths += [("http", 1, c, lambda c=c: run_tvd(http, requests, concurrency=c)) for c in args.concurrency]
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=12, help="prompts per path and round")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="llama.cpp threads (each a set of paths)")
    parser.add_argument(
        "--widths", type=int, nargs="+", default=[1, 4, 8, 16], help="batch widths of the batched paths"
    )
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS), help="paths to run (default: all)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4], help="HTTP concurrency levels")
    parser.add_argument("--out", type=Path, default=RESULTS / "teacher_throughput.json")
    args = parser.parse_args(argv)

    requests = requests_for(args.prompts)
    model = default_model_path()
    records: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        paths: list[tuple[int, str, int, int, Any]] = []
        for threads in args.threads:
            http = None
            if "http" in args.paths:
                port = free_port()
                url = f"http://127.0.0.1:{port}/v1"
                server = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
                server += ["--port", str(port), "--n_threads", str(threads), "--n_ctx", "2048"]
                stack.enter_context(local_server(server, f"{url}/models"))
                http = OpenAITeacher(url, "gemma-3-270m", grammar="gbnf", extended_sampling=True, timeout_s=300)
            paths += [(threads, *path) for path in paths_for(args, threads, model, requests, http)]
        for round_ in range(args.rounds):
            shift = round_ % len(paths)
            for threads, path, width, concurrency, run in paths[shift:] + paths[:shift]:
                result = run()
                record = {
                    "path": path,
                    "threads": threads,
                    "width": width,
                    "concurrency": concurrency,
                    "round": round_,
                    "tokens_per_s": result["completion_tokens"] / result["seconds"],
                    "utterances_per_s": result["utterances"] / result["seconds"],
                    **{k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()},
                }
                records.append(record)
                print(
                    f"round {round_} {path:20s} t={threads} w={width:<2d} c={concurrency}: "
                    f"{record['utterances_per_s']:.3f} utt/s, {record['tokens_per_s']:.1f} tok/s"
                    + (f", well-formed {result['accepted']}/{result['utterances']}" if "accepted" in result else "")
                )
    summary = summarise(records)
    table = format_table(
        [
            {
                **row,
                "tokens_per_s": f"{row['tokens_per_s']:.1f}",
                "utterances_per_s": f"{row['utterances_per_s']:.3f}",
                "well_formed": "" if row["well_formed"] is None else f"{row['well_formed']:.0%}",
                "speed_vs_direct": f"{row['speed_vs_direct']:.2f}x" if "speed_vs_direct" in row else "",
                "speed_vs_default": f"{row['speed_vs_default']:.2f}x" if "speed_vs_default" in row else "",
            }
            for row in summary
        ],
        [
            "path",
            "threads",
            "width",
            "concurrency",
            "rounds",
            ("tokens_per_s", "tokens/s"),
            ("utterances_per_s", "utterances/s"),
            ("well_formed", "well-formed"),
            ("speed_vs_default", "vs default"),
            ("speed_vs_direct", "vs direct"),
        ],
        title=f"Teacher throughput, Gemma 3 270M, medians of {args.rounds} rounds",
    )
    settings = {
        "prompts": args.prompts,
        "rounds": args.rounds,
        "threads": args.threads,
        "widths": args.widths,
        "paths": args.paths,
        "anchor_tokens": ANCHOR_TOKENS,
        "params": PARAMS.to_dict(),
    }
    write_json(
        args.out,
        {**stamp("teacher_throughput.py", argv), "settings": settings, "summary": summary, "records": records},
    )
    print(f"\n{table}\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
