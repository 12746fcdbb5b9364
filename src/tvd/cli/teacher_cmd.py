"""``tvd teacher``: list the teacher backends; build instruction data from labelled datasets and LoRA-tune a
LINGUIST teacher on it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from tvd.errors import E_BAD_DATASET_ARG, E_BAD_MIX, TvdError
from tvd.jobs.tune import build_data as build_instruction_data
from tvd.linguist.instruction_data import InstructionSettings, read_pairs


@click.group(name="teacher", short_help="List teacher backends; instruction-tune a LINGUIST teacher.")
def teacher() -> None:
    """List the teacher backends, or instruction-tune a small LM to follow LINGUIST prompts for `tvd generate`.

    \b
    tvd teacher list
    tvd teacher build-data snips=data/snips/train atis=data/atis/train --exclude snips:GetWeather -o pairs.jsonl
    tvd teacher tune pairs.jsonl -o adapters/no-weather --steps 40
    # then in a run config:  teacher: {backend: llamacpp, options: {model_path: <base gguf>,
    #                                  lora_path: adapters/no-weather/adapter.gguf}}
    """


def echo_teacher_backends() -> None:
    """Print one line per teacher backend: its name and what it is."""
    from tvd.teachers.registry import teacher_backends

    for name, description in teacher_backends():
        click.echo(f"{name:12s} {description}")


@teacher.command(name="list", short_help="List the teacher backends.")
def list_backends() -> None:
    """List the teacher backends a config's `teacher.backend` can name (with packages' entry points)."""
    echo_teacher_backends()


def _parse_dataset(spec: str) -> tuple[str, Path]:
    name, sep, path = spec.partition("=")
    if not sep:
        path = name
        name = Path(path).parent.name if Path(path).name in ("train", "valid", "test") else Path(path).stem
    if not name or not path:
        raise TvdError(
            E_BAD_DATASET_ARG, f"bad dataset argument {spec!r}", fix="write NAME=PATH, e.g. snips=data/snips/train"
        )
    return name, Path(path)


@teacher.command(name="build-data", short_help="Write LINGUIST prompt/target pairs from labelled data.")
@click.argument("datasets", nargs=-1, required=True, metavar="[NAME=]PATH...")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Output JSONL file.")
@click.option("-n", "--pairs", "pairs", default=2000, show_default=True, help="How many pairs to write.")
@click.option(
    "--exclude",
    multiple=True,
    metavar="[NAME:]INTENT",
    help="Intent to leave out (the novel ones); NAME:INTENT for one dataset, INTENT for all. Repeatable.",
)
@click.option("--mix", multiple=True, metavar="NAME=WEIGHT", help="Dataset sampling weight (default 1 each).")
@click.option("--wildcard-rate", default=0.5, show_default=True, help="Share of include slots written as '*'.")
@click.option("--free-rate", default=0.1, show_default=True, help="Share of pairs with an empty include block.")
@click.option("--max-shots", default=10, show_default=True, help="Examples per prompt drawn uniformly from 0..N.")
@click.option("--max-prompt-chars", default=1200, show_default=True, help="Drop examples until the prompt fits.")
@click.option(
    "--examples-from",
    metavar="NAME",
    help="Cross-lingual pairs: a target from another dataset gets its examples from NAME's utterances of the "
    "same intent (e.g. English examples, German target).",
)
@click.option("--format", "fmt", default=None, help="Input format (detected from each path when omitted).")
@click.option("--seed", default=0, show_default=True, help="Random seed: same seed, same file.")
def build_data(
    datasets: tuple[str, ...],
    out: Path,
    pairs: int,
    exclude: tuple[str, ...],
    mix: tuple[str, ...],
    wildcard_rate: float,
    free_rate: float,
    max_shots: int,
    max_prompt_chars: int,
    examples_from: str | None,
    fmt: str | None,
    seed: int,
) -> None:
    """Build prompt/target pairs from DATASETS (any format `tvd` reads; NAME=PATH names a dataset).

    Each pair samples a dataset, an intent, a target utterance and 0..max-shots other utterances of that
    intent as examples; the include block comes from the target's slots (values fixed or '*'), the label
    numbering is shuffled, and the target is the utterance in numbered-bracket form.
    """
    paths = dict(_parse_dataset(spec) for spec in datasets)
    weights = {}
    for item in mix:
        name, _, weight = item.partition("=")
        try:
            weights[name] = float(weight)
        except ValueError as exc:
            raise TvdError(E_BAD_MIX, f"bad --mix {item!r}", fix="write NAME=WEIGHT, e.g. atis=0.5") from exc
    settings = InstructionSettings(
        pairs=pairs,
        shots=tuple(range(max_shots + 1)),
        wildcard_rate=wildcard_rate,
        free_rate=free_rate,
        max_prompt_chars=max_prompt_chars,
        exclude=exclude,
        mix=weights,
        seed=seed,
        examples_from=examples_from,
    )
    built = build_instruction_data(paths, out, settings, fmt=fmt)
    intents = Counter(pair.key for pair in built)
    click.echo(f"wrote {len(built)} pairs over {len(intents)} intents to {out}")


@teacher.command(short_help="LoRA-tune a base LM on instruction pairs; writes a PEFT and a llama.cpp adapter.")
@click.argument("pairs_path", metavar="PAIRS", type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Adapter folder to write.")
@click.option(
    "--base-model",
    type=click.Path(path_type=Path),
    help="GGUF file or HF folder, or a name: smollm2-135m (the default) or gemma3-270m (the embedded teacher).",
)
@click.option("--steps", default=100, show_default=True, help="Optimiser steps.")
@click.option("--batch-size", default=8, show_default=True, help="Pairs per step.")
@click.option("--lr", default=1e-3, show_default=True, help="Peak learning rate (warm-up, then cosine).")
@click.option("--rank", default=16, show_default=True, help="LoRA rank (alpha = 2 x rank).")
@click.option("--max-tokens", default=384, show_default=True, help="Skip pairs longer than this.")
@click.option("--threads", default=1, show_default=True, help="CPU threads.")
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(["float32", "bfloat16"]))
@click.option("--seed", default=0, show_default=True, help="Random seed.")
def tune(
    pairs_path: Path,
    out: Path,
    base_model: Path | None,
    steps: int,
    batch_size: int,
    lr: float,
    rank: int,
    max_tokens: int,
    threads: int,
    dtype: str,
    seed: int,
) -> None:
    """Train LoRA adapters on PAIRS (from `tvd teacher build-data`), loss on the target line only.

    OUT gets the PEFT adapter (transformers backend: adapter_path), adapter.gguf (llamacpp backend:
    lora_path) and tvd_adapter.json, which records the dataset:intent keys trained on.
    """
    from tvd.tuning import TuneSettings
    from tvd.tuning import tune as run_tune

    pairs = read_pairs(pairs_path)
    settings = TuneSettings(
        steps=steps,
        batch_size=batch_size,
        learning_rate=lr,
        rank=rank,
        alpha=2.0 * rank,
        max_tokens=max_tokens,
        threads=threads,
        dtype=dtype,
        seed=seed,
    )

    def show(step: int, loss: float) -> None:
        if step == 1 or step % 10 == 0 or step == steps:
            click.echo(f"step {step}/{steps} loss {loss:.3f}")

    manifest = run_tune(pairs, out, settings, base_model=base_model, progress=show)
    click.echo(
        f"wrote {out} ({manifest['seconds_per_step']} s/step on {manifest['device']}; "
        f"trained on {len(manifest['trained_on'])} intents)"
    )
