"""CLASP commands: ``tvd clasp`` (generate (utterance, parse) pairs) and ``tvd parser train|evaluate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tvd.cli.ray_option import apply_ray, ray_option
from tvd.cli.student_cmd import TRUST_PICKLE_HELP, check_directory_destination
from tvd.errors import E_NEEDS_CLASP_CONFIG, E_NO_RUN_DIR, TvdError


def teacher_for(config: Any) -> Any:
    """The teacher of a CLASP config's teacher block (``--teacher`` / ``--teacher-option`` already applied)."""
    from tvd.jobs.teacher import build_teacher

    return build_teacher(config.teacher)


_DATA_HELP = "PIZZA folder: catalogs/ (slot values; RS, GB and English outputs need it) and PIZZA_dev.16_shots.json."


@click.command(short_help="Generate (utterance, parse) pairs with a teacher: CLASP RS, TS, GB or TB.")
@click.argument("config_path", metavar="[CONFIG]", required=False, type=click.Path(path_type=Path))
@click.option("--config", "config_option", type=click.Path(path_type=Path), hidden=True)
@click.option("--strategy", default=None, help="CLASP strategy: rs, ts, gb or tb (or `strategy:` in CONFIG).")
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Run directory (cache, outputs); or output_dir:.")
@click.option("--pool", type=click.Path(path_type=Path), help="Real PIZZA JSON lines to start from (RS, GB).")
@click.option("--data", type=click.Path(path_type=Path), help=_DATA_HELP)
@click.option(
    "-n", "count", type=click.IntRange(min=1), help="How many: requests (RS, GB), samples per pool parse (TS, TB)."
)
@click.option("--seed", type=int, help="Sampling seed (sources, values, shots, decoding).  [default: 0]")
@click.option("--teacher", "backend", default=None, help="Teacher backend (`tvd teacher list`); or teacher: in CONFIG.")
@click.option("--teacher-option", "teacher_options", multiple=True, metavar="KEY=VALUE", help="Teacher option.")
@click.option(
    "--negation-cues",
    is_flag=True,
    default=None,
    help="RS: each request draws an English negation cue (no, without, hold the, ...) that the words before its "
    "NOTs must end with.",
)
@click.option("--no-grammar", is_flag=True, help="Send no GBNF grammar (every output is still validated).")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@click.option("--dry-run", is_flag=True, help="Print the requests that would be sent, tokens and cost; send nothing.")
@click.option(
    "--budget",
    type=click.FloatRange(min=0.0),
    default=None,
    metavar="USD",
    help="Stop (resumably) before this run's estimated spend would exceed USD dollars (needs teacher.price).",
)
@ray_option
def clasp(
    config_path: Path | None,
    config_option: Path | None,
    strategy: str | None,
    out: Path | None,
    pool: Path | None,
    data: Path | None,
    count: int | None,
    seed: int | None,
    backend: str | None,
    teacher_options: tuple[str, ...],
    negation_cues: bool | None,
    no_grammar: bool,
    no_progress: bool,
    dry_run: bool,
    budget: float | None,
    ray_address: str | None,
) -> None:
    """Have a teacher write semantic-parsing training pairs (CLASP, Rosenbaum et al. 2022).

    \b
    rs  replace the slot values of real parses with catalogue values; the teacher writes the utterance
    gb  few-shot: the teacher writes a new utterance and its parse together
    ts  translate the slot values (teacher), then write the target-language utterance   (needs CONFIG)
    tb  write the target-language utterance and parse from an English pair              (needs CONFIG)

    CONFIG (YAML, e.g. examples/clasp/de.yaml) may hold every setting: strategy, data, pool, language,
    glossary, pairs, count, seed, negation_cues, constrained, output_dir and a teacher block as in a run
    config; the options override it.

    Every completion is cached in OUT/cache.sqlite (re-running sends only what is missing).  Writes
    OUT/generated.jsonl (PIZZA JSON lines: train.SRC, train.TOP and, for English, train.EXR),
    OUT/rejects.jsonl (raw output + reason), OUT/failures.jsonl and OUT/summary.json.  English outputs
    are checked against the catalogues too: a known topping, drink or style among the connecting words
    is rejected (value_outside_slot).
    """
    from tvd.clasp.strategies import get_strategy
    from tvd.config import ClaspConfig, load_clasp_config
    from tvd.engine.cache import CompletionCache, existing_cache
    from tvd.engine.generate import estimate_lines
    from tvd.engine.lock import run_lock
    from tvd.jobs.clasp import clasp_job, estimate_clasp, write_clasp
    from tvd.jobs.teacher import engine_settings

    path = config_path or config_option
    config = load_clasp_config(path) if path is not None else ClaspConfig()
    overrides = {
        "strategy": strategy,
        "output_dir": out,
        "pool": pool,
        "data": data,
        "count": count,
        "seed": seed,
        "negation_cues": negation_cues,
        "constrained": False if no_grammar else None,
    }
    if backend is not None or teacher_options:
        from tvd.config import TeacherConfig, parse_options

        overrides["teacher"] = TeacherConfig(
            backend=backend or config.teacher.backend, options=parse_options(teacher_options, "--teacher-option")
        )
    config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    apply_ray(config, ray_address)
    if config.strategy is not None and get_strategy(config.strategy).cross_lingual and path is None:
        raise TvdError(
            E_NEEDS_CLASP_CONFIG,
            f"--strategy {config.strategy} needs CONFIG",
            fix="e.g. tvd clasp examples/clasp/de.yaml",
        )
    if config.output_dir is None:
        raise TvdError(E_NO_RUN_DIR, "no run directory given", fix="pass -o/--out DIR or set output_dir: in CONFIG")
    run_dir = config.output_dir
    settings = engine_settings(config.teacher, config.engine)
    if dry_run:
        with teacher_for(config) as teacher, existing_cache(run_dir / "cache.sqlite") as cache:
            estimate = estimate_clasp(config, teacher, cache, engine=settings)
        for line in estimate_lines(estimate, config.teacher.price):
            click.echo(line)
        return
    with run_lock(run_dir):  # one process per run directory, outputs included (E372)
        with teacher_for(config) as teacher, CompletionCache(run_dir / "cache.sqlite") as cache:
            run = clasp_job(config, teacher, cache, engine=settings, budget_usd=budget, progress=not no_progress)
        write_clasp(run_dir, run)
    s = run.result.stats.to_dict()
    click.echo(
        f"{run.strategy}: {s['planned']} completions ({s['cached']} cached, {s['sent']} sent): {s['accepted']} valid, "
        f"{s['rejected']} rejected {s['rejected_by_reason'] or ''}, {s['failed']} failed"
        + (f", {s['unsent']} not sent (budget)" if s["unsent"] else "")
        + f" -> {run_dir / 'generated.jsonl'}"
    )


@click.group(name="parser", short_help="Train and evaluate the PIZZA semantic parser student (train, evaluate).")
def parser() -> None:
    """The semantic-parser student: a CRF path tagger over PIZZA TOP trees (real or from `tvd clasp`)."""


@parser.command(name="train", short_help="Train the PIZZA semantic parser student (CRF path tagger).")
@click.option(
    "--train",
    "train_paths",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="PIZZA JSON lines with TOP trees (real or from `tvd clasp`); repeatable.",
)
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Directory to save the parser in.")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="PIZZA folder (its catalogs/ give the "
              "parser's lexicon features).")  # fmt: skip
@click.option(
    "--negation-words/--no-negation-words",
    default=True,
    show_default=True,
    help="Give the parser the English negation words (no, not, without, avoid, hold, ...) as one word class.",
)
def parser_train(train_paths: tuple[Path, ...], out: Path, data: Path, negation_words: bool) -> None:
    """Train the parser on TOP trees and save it (student.json, crf.crfsuite, lexicon.json)."""
    from tvd.clasp.resolve import Catalogs
    from tvd.clasp.validate import NEGATION_CUES
    from tvd.formats.pizza import read_pizza
    from tvd.students.parser_crf import ParserCRF

    check_directory_destination(out, "parser")
    catalogs = Catalogs.load(data / "catalogs")
    trees = [e.top for path in train_paths for e in read_pizza(path) if e.top is not None]
    word_classes = {"negation": sorted(NEGATION_CUES)} if negation_words else None
    lexicon = {label: catalogs.values(label) for label in catalogs.entries}
    model = ParserCRF(lexicon, word_classes=word_classes).fit(trees)
    model.save(out)
    click.echo(f"trained on {len(trees)} trees in {model.train_seconds:.1f} s -> {out}")


@parser.command(name="evaluate", short_help="Exact match and unordered exact match of a saved parser.")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("test_path", type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path), help="PIZZA folder (its catalogs/).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the scores to this JSON file.")
@click.option("--trust-pickle", is_flag=True, help=TRUST_PICKLE_HELP)
def parser_evaluate(model_dir: Path, test_path: Path, data: Path, json_path: Path | None, trust_pickle: bool) -> None:
    """Score MODEL_DIR on TEST_PATH (PIZZA JSON lines with EXR) as the PIZZA authors do."""
    from tvd.clasp.resolve import Catalogs
    from tvd.evaluate.parse_metrics import score
    from tvd.formats.pizza import read_pizza
    from tvd.students.parser_crf import ParserCRF

    catalogs = Catalogs.load(data / "catalogs")
    test = [e for e in read_pizza(test_path) if e.exr is not None]
    model = ParserCRF.load(model_dir, trust_pickle=trust_pickle)
    scores = score(model.predict([e.text for e in test]), [e.exr for e in test], catalogs)
    click.echo(f"n={scores.n}  EM {100 * scores.em:.2f}  unordered EM {100 * scores.unordered_em:.2f}")
    if json_path is not None:
        json_path.write_text(json.dumps(scores.to_dict(), indent=2) + "\n", encoding="utf-8")


# the spellings before the `parser` group, kept as hidden aliases
parser_train_alias = click.Command(
    "parser-train", callback=parser_train.callback, params=parser_train.params, help=parser_train.help, hidden=True
)
parser_evaluate_alias = click.Command(
    "parser-evaluate",
    callback=parser_evaluate.callback,
    params=parser_evaluate.params,
    help=parser_evaluate.help,
    hidden=True,
)
