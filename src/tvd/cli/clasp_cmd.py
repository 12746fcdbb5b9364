"""CLASP commands: ``tvd clasp`` (generate (utterance, parse) pairs), ``tvd parser-train``, ``tvd parser-evaluate``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
import yaml

from tvd.errors import TvdError

DEFAULT_PIZZA = Path(os.environ.get("TVD_DATA", "../shared/data")) / "pizza"


def teacher_from_options(backend: str, options: tuple[str, ...]) -> Any:
    """The teacher of ``--teacher BACKEND --teacher-option KEY=VALUE ...`` (the embedded one on one thread)."""
    from tvd.cli.student_cmd import parse_params
    from tvd.teachers.registry import make_teacher

    opts = parse_params(options)
    if backend == "llamacpp":
        opts.setdefault("n_threads", 1)
    return make_teacher(backend, **opts)


def _load_config(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TvdError(
            "E611", f"cannot read the CLASP config: {exc}", file=path, fix="see examples/clasp/de.yaml"
        ) from exc
    if not isinstance(raw, dict):
        raise TvdError("E611", "the CLASP config must be a YAML mapping", file=path, fix="see examples/clasp/de.yaml")
    return raw


def _trees(items: Any, path: Path, key: str) -> list[Any]:
    from tvd.data.parse_tree import Tree

    if not isinstance(items, list) or not items:
        raise TvdError(
            "E611", f"`{key}` must be a non-empty list of TOP trees", file=path, fix="see examples/clasp/de.yaml"
        )
    try:
        return [Tree.from_top(str(item)) for item in items]
    except TvdError as exc:
        raise TvdError("E611", f"`{key}`: {exc.message}", file=path, fix=exc.fix) from exc


@click.command(short_help="Generate (utterance, parse) pairs with a teacher: CLASP RS, TS, GB or TB.")
@click.option("--strategy", type=click.Choice(["rs", "ts", "gb", "tb"]), required=True, help="CLASP strategy.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run directory (cache, outputs).")
@click.option(
    "--pool",
    type=click.Path(path_type=Path),
    help="Real PIZZA JSON lines to start from (RS, GB; default: PIZZA_dev.16_shots.json under --data).",
)
@click.option("--data", type=click.Path(path_type=Path), default=DEFAULT_PIZZA, show_default=True, help="PIZZA folder.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="TS/TB config (examples/clasp/de.yaml).")
@click.option("-n", "count", default=20, show_default=True, help="Requests (RS, GB); TS/TB: samples per pool parse.")
@click.option("--seed", default=0, show_default=True, help="Sampling seed (sources, values, shots, decoding).")
@click.option("--teacher", "backend", default="llamacpp", show_default=True, help="Teacher backend (`tvd teachers`).")
@click.option("--teacher-option", "teacher_options", multiple=True, metavar="KEY=VALUE", help="Teacher option.")
@click.option(
    "--negation-cues",
    is_flag=True,
    help="RS: each request draws an English negation cue (no, without, hold the, ...) that the words before its "
    "NOTs must end with.",
)
@click.option("--no-grammar", is_flag=True, help="Send no GBNF grammar (every output is still validated).")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def clasp(
    strategy: str,
    out: Path,
    pool: Path | None,
    data: Path,
    config_path: Path | None,
    count: int,
    seed: int,
    backend: str,
    teacher_options: tuple[str, ...],
    negation_cues: bool,
    no_grammar: bool,
    no_progress: bool,
) -> None:
    """Have a teacher write semantic-parsing training pairs (CLASP, Rosenbaum et al. 2022).

    \b
    rs  replace the slot values of real parses with catalogue values; the teacher writes the utterance
    gb  few-shot: the teacher writes a new utterance and its parse together
    ts  translate the slot values (teacher), then write the target-language utterance   (needs --config)
    tb  write the target-language utterance and parse from an English pair              (needs --config)

    Every completion is cached in OUT/cache.sqlite (re-running sends only what is missing).  Writes
    OUT/generated.jsonl (PIZZA JSON lines: train.SRC, train.TOP and, for English, train.EXR),
    OUT/rejects.jsonl (raw output + reason), OUT/failures.jsonl and OUT/summary.json.  English outputs
    are checked against the catalogues too: a known topping, drink or style among the connecting words
    is rejected (value_outside_slot).
    """
    from tvd.clasp.grammar import NEGATION_CUES_EN
    from tvd.clasp.resolve import Catalogs
    from tvd.clasp.strategies import plan_gb, plan_rs, plan_tb, plan_ts, plan_ts_values
    from tvd.data.atomic import atomic_write_text
    from tvd.data.parse_tree import Tree
    from tvd.engine.cache import CompletionCache
    from tvd.engine.clasp_generate import generate_pairs
    from tvd.formats.pizza import read_pizza
    from tvd.teachers.base import GenerationParams

    catalogs = Catalogs.load(data / "catalogs")
    values = {label: catalogs.values(label) for label in catalogs.entries}
    out.mkdir(parents=True, exist_ok=True)
    params = GenerationParams(max_tokens=192, temperature=0.7, seed=seed * 100_000)
    summary: dict[str, Any] = {"strategy": strategy}
    with teacher_from_options(backend, teacher_options) as teacher, CompletionCache(out / "cache.sqlite") as cache:
        run = {"constrained": not no_grammar, "progress": not no_progress, "params": params, "lexicon": values}
        if strategy in ("rs", "gb"):
            examples = read_pizza(pool or data / "PIZZA_dev.16_shots.json")
            trees = [e.top for e in examples if e.top is not None]
            if strategy == "rs":
                cues = NEGATION_CUES_EN if negation_cues else ()
                requests = plan_rs(trees, values, count, seed=seed, negation_cues=cues)
            else:
                requests = plan_gb(trees, values, count, seed=seed)
            result = generate_pairs(requests, teacher, cache, **run)
            language = "en"
        else:
            if config_path is None:
                raise TvdError(
                    "E612", f"--strategy {strategy} needs --config", fix="e.g. --config examples/clasp/de.yaml"
                )
            config = _load_config(config_path)
            language = str(config.get("language", "de"))
            trees = _trees(config.get("pool"), config_path, "pool")
            pairs_raw = config.get("pairs") or []
            pairs = list(
                zip(
                    _trees([p.get("en") for p in pairs_raw], config_path, "pairs.en"),
                    _trees([p.get("de", p.get(language)) for p in pairs_raw], config_path, "pairs." + language),
                    strict=True,
                )
            )
            if strategy == "ts":
                glossary = [(str(a), str(b)) for a, b in config.get("glossary") or []]
                step = generate_pairs(plan_ts_values(trees, glossary, language), teacher, cache, **run)
                translations = {a["source"]: a["value"] for a in step.accepted}
                summary["value_translation"] = {"stats": step.stats, "translations": translations}
                requests = plan_ts(trees, translations, [t for _, t in pairs], language, samples=count)
            else:
                requests = plan_tb(trees, pairs, language, samples=count)
            result = generate_pairs(requests, teacher, cache, **run)
    lines = []
    for record in result.accepted:
        top = Tree.from_top(record["top"])
        row = {"train.SRC": record["text"], "train.TOP": record["top"]}
        if language == "en":
            row["train.EXR"] = str(catalogs.resolve(top))
        lines.append(json.dumps({**row, "strategy": strategy, "request_id": record["request_id"]}, ensure_ascii=False))
    atomic_write_text(out / "generated.jsonl", "".join(line + "\n" for line in lines))
    atomic_write_text(out / "rejects.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.rejects))
    atomic_write_text(out / "failures.jsonl", "".join(json.dumps(f) + "\n" for f in result.failures))
    summary["stats"] = result.stats
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    s = result.stats
    click.echo(
        f"{strategy}: {s['planned']} completions ({s['cached']} cached, {s['sent']} sent): {s['accepted']} valid, "
        f"{s['rejected']} rejected {s['rejected_by_reason'] or ''}, {s['failed']} failed -> {out / 'generated.jsonl'}"
    )


@click.command(name="parser-train", short_help="Train the PIZZA semantic parser student (CRF path tagger).")
@click.option(
    "--train",
    "train_paths",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="PIZZA JSON lines with TOP trees (real or from `tvd clasp`); repeatable.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Directory to save the parser in.")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=DEFAULT_PIZZA,
    show_default=True,
    help="PIZZA folder (its catalogs/ give the parser's lexicon features).",
)
@click.option(
    "--negation-words/--no-negation-words",
    default=True,
    show_default=True,
    help="Give the parser the English negation words (no, not, without, avoid, hold, ...) as one word class.",
)
def parser_train(train_paths: tuple[Path, ...], out: Path, data: Path, negation_words: bool) -> None:
    """Train the parser on TOP trees and save it (student.json + model.joblib)."""
    from tvd.clasp.resolve import Catalogs
    from tvd.clasp.validate import NEGATION_CUES
    from tvd.formats.pizza import read_pizza
    from tvd.students.parser_crf import ParserCRF

    catalogs = Catalogs.load(data / "catalogs")
    trees = [e.top for path in train_paths for e in read_pizza(path) if e.top is not None]
    word_classes = {"negation": sorted(NEGATION_CUES)} if negation_words else None
    lexicon = {label: catalogs.values(label) for label in catalogs.entries}
    parser = ParserCRF(lexicon, word_classes=word_classes).fit(trees)
    parser.save(out)
    click.echo(f"trained on {len(trees)} trees in {parser.train_seconds:.1f} s -> {out}")


@click.command(name="parser-evaluate", short_help="Exact match and unordered exact match of a saved parser.")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("test_path", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), default=DEFAULT_PIZZA, show_default=True, help="PIZZA folder.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the scores to this JSON file.")
def parser_evaluate(model_dir: Path, test_path: Path, data: Path, json_path: Path | None) -> None:
    """Score MODEL_DIR on TEST_PATH (PIZZA JSON lines with EXR) as the PIZZA authors do."""
    from tvd.clasp.resolve import Catalogs
    from tvd.evaluate.parse_metrics import score
    from tvd.formats.pizza import read_pizza
    from tvd.students.parser_crf import ParserCRF

    catalogs = Catalogs.load(data / "catalogs")
    test = [e for e in read_pizza(test_path) if e.exr is not None]
    parser = ParserCRF.load(model_dir)
    scores = score(parser.predict([e.text for e in test]), [e.exr for e in test], catalogs)
    click.echo(f"n={scores.n}  EM {100 * scores.em:.2f}  unordered EM {100 * scores.unordered_em:.2f}")
    if json_path is not None:
        json_path.write_text(json.dumps(scores.to_dict(), indent=2) + "\n", encoding="utf-8")
