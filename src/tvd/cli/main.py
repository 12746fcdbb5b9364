"""The ``tvd`` command-line tool."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from tvd import __version__
from tvd.cli.clasp_cmd import clasp, parser, parser_evaluate_alias, parser_train_alias
from tvd.cli.ray_option import apply_ray, ray_option
from tvd.cli.report_cmd import report
from tvd.cli.student_cmd import TRUST_PICKLE_HELP, check_directory_destination, export, upgrade_student
from tvd.cli.teacher_cmd import echo_teacher_backends
from tvd.cli.teacher_cmd import teacher as teacher_group
from tvd.errors import E_BAD_PARAMS, E_NO_SERVE_DEPS, E_NO_UTTERANCES, TvdError


class _TvdGroup(click.Group):
    """Turns :class:`TvdError` into one clear message and exit status 1 instead of a traceback (2 stays click's
    usage error: an unknown option, a missing argument)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TvdError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(1)


def _run_dir_option(command: Callable[..., None]) -> Callable[..., None]:
    """``-o/--out DIR`` (into the parameter ``out``), and ``--output-dir``, its old spelling, hidden."""
    command = click.option("--output-dir", "out", hidden=True, type=click.Path(path_type=Path))(command)
    return click.option(
        "-o", "--out", "out", type=click.Path(path_type=Path), help="Run directory (overrides the config's output_dir)."
    )(command)


@click.group(cls=_TvdGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tvd")
def main() -> None:
    """teaching-via-data: a teacher language model writes annotated training data; a small student learns from it.

    \b
    Typical use, for a new intent with about ten annotated utterances:
      tvd run examples/new-intent/config.yaml
    writes synthetic utterances, rejects with reasons, trained students and metrics to runs/<name>/.

    \b
    Options mean the same in every command: -o/--out is where it writes, -n how many of its main
    unit (`tvd prompt -n`: prompts to show; `tvd teacher build-data -n`: pairs to write).  Exit
    status: 0 done, 1 an error (one coded line), 2 a usage error.

    Run `tvd COMMAND --help` for each command's options.
    """


@main.command(short_help="Generate data, train students with and without it, compare.")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@_run_dir_option
@click.option("--no-progress", is_flag=True, help="Hide progress bars (for logs and CI).")
@click.option(
    "--no-validation",
    is_flag=True,
    help="Skip the seed cross-validation estimate (the same as validation.folds: 0 in the config).",
)
@ray_option
def run(config_path: Path, out: Path | None, no_progress: bool, no_validation: bool, ray_address: str | None) -> None:
    """Generate data for a new intent, train students with and without it, and compare them.

    \b
    Reads the YAML run CONFIG (see examples/new-intent/config.yaml), then:
      1. plans LINGUIST prompts from the seed utterances of the new intent,
      2. asks the teacher (default: the embedded Gemma 3 270M) for annotated utterances,
         caching every completion in cache.sqlite so an interrupted run resumes,
      3. validates them (invalid ones go to rejects.jsonl with their reason) and filters them
         (removed ones go to filtered.jsonl; a filter such as `intent` gets the baseline student,
         trained first); `revalue: K` adds K re-filled variants of each kept one (revalued.jsonl),
      4. trains the student on base + seeds (baseline) and on base + seeds x seed_weight +
         generated + re-valued (augmented),
      5. evaluates both on the test set and prints the comparison, then estimates the gain by
         cross-validation on the seeds (no test set needed; --no-validation skips it);
         metrics.json holds all figures.
    """
    from tvd.config import load_config
    from tvd.engine.lock import run_lock
    from tvd.jobs.run import generate_data, load_run_data, train_and_compare
    from tvd.report.table import comparison_table

    config = load_config(config_path)
    if out is not None:
        config.output_dir = out
    if no_validation:
        config.validation.folds = 0
    apply_ray(config, ray_address)
    click.echo(f"run directory: {config.run_dir}")
    data = load_run_data(config, log=click.echo)
    click.echo(
        f"new intent {data.intent!r}: {len(data.seeds)} seed utterances; base {len(data.base)}; test {len(data.test)}"
    )
    with run_lock(config.run_dir):  # one process per run directory, from generation to metrics.json (E372)
        generated = generate_data(config, data, progress=not no_progress, log=click.echo)
        comparison = train_and_compare(config, data, generated, log=click.echo)
    if comparison.metrics:
        click.echo("")
        click.echo(comparison_table(comparison.metrics, focus_intent=data.intent))
    if comparison.seed_validation is not None:
        if not comparison.metrics:
            click.echo("")  # the table ends in a blank line
        click.echo(comparison.seed_validation.summary_line())
        click.echo("  (optimistic: the teacher saw every seed; copies of held-out seeds and their values were dropped)")
    click.echo(
        f"\nwrote {config.run_dir}/{{generated,revalued,rejects,filtered,failures}}.jsonl, students/, metrics.json"
        f"\nreport: {config.run_dir / 'report.html'} (open it in a browser; it works offline)"
    )


@main.command(short_help="Only generate the data of a run config (no training).")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@_run_dir_option
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@click.option(
    "--dry-run", is_flag=True, help="Print the requests that would be sent, estimated tokens and cost; send nothing."
)
@click.option(
    "--budget",
    "budget",
    type=click.FloatRange(min=0.0),
    default=None,
    metavar="USD",
    help="Stop (resumably) before this run's estimated spend would exceed USD dollars (needs teacher.price).",
)
@ray_option
def generate(
    config_path: Path, out: Path | None, no_progress: bool, dry_run: bool, budget: float | None, ray_address: str | None
) -> None:
    """Only generate: write generated.jsonl, revalued.jsonl, rejects.jsonl, filtered.jsonl and failures.jsonl for
    the run CONFIG (a filter that needs a reference student, such as `intent`, gets the baseline student, trained
    here first).

    \b
    Completions are cached in the run directory's cache.sqlite: re-running after an interruption (even
    kill -9) sends only the requests that have no answer yet.  Requests that still fail after their
    retries (rate limits, server errors, timeouts) are listed with their reason in failures.jsonl and are
    sent again by the next run.  The teacher block of the config sets concurrency, rate limits, retries
    and prices (see examples/teachers/).
    """
    from tvd.config import load_config
    from tvd.engine.generate import estimate_lines
    from tvd.jobs.run import estimate_data, generate_data, load_run_data

    config = load_config(config_path)
    if out is not None:
        config.output_dir = out
    apply_ray(config, ray_address)
    data = load_run_data(config, log=click.echo)
    if dry_run:
        for line in estimate_lines(estimate_data(config, data), config.teacher.price, config.generation.max_tokens):
            click.echo(line)
        return
    if budget is not None and config.teacher.price is None:
        click.echo("warning: --budget without teacher.price in the config: every request counts as free", err=True)
    generate_data(config, data, progress=not no_progress, log=click.echo, budget_usd=budget)
    click.echo(f"wrote {config.run_dir}/{{generated,revalued,rejects,filtered,failures}}.jsonl, report.html")


@main.command(short_help="Show the LINGUIST prompts (and grammars) a run config would send.")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option("-n", "count", default=1, show_default=True, help="How many prompts to show (the first N planned).")
@click.option("--grammar", is_flag=True, help="Also show each prompt's GBNF output grammar.")
def prompt(config_path: Path, count: int, grammar: bool) -> None:
    """Show the LINGUIST prompts a run CONFIG would send, without calling the teacher."""
    from tvd.config import load_config
    from tvd.jobs.run import load_run_data, plan
    from tvd.linguist.grammar import output_grammar
    from tvd.linguist.prompt import build_prompt

    config = load_config(config_path)
    data = load_run_data(config, log=click.echo)
    for request in plan(config, data, requests=count):
        click.echo(f"--- {request.request_id}")
        click.echo(build_prompt(request))
        if grammar:
            click.echo(output_grammar(request))


@main.command(short_help="Train a student on annotated utterances and save it.")
@click.option(
    "--train",
    "train_paths",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Training data (any supported format); repeat to concatenate files.",
)
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Directory to save the student in.")
@click.option("--student", "kind", default="crf", show_default=True, help="Student kind.")
@click.option("--format", "fmt", default=None, help="Input format (detected from the path when omitted).")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A student parameter (VALUE read as JSON, else as text), e.g. --param epochs=4; repeatable.",
)
@click.option(
    "--validation",
    "validation_path",
    type=click.Path(path_type=Path),
    help="Encoder student: labelled data scored after every epoch; the best epoch's weights are kept.",
)
def train(
    train_paths: tuple[Path, ...],
    out: Path,
    kind: str,
    fmt: str | None,
    params: tuple[str, ...],
    validation_path: Path | None,
) -> None:
    """Train a student on annotated utterances and save it to --out.

    Kinds: `crf` (CRF slot tagger + linear intent classifier, the fast default) and `encoder` (fine-tuned
    all-MiniLM-L6-v2 with intent and slot heads and a CRF, needs the `encoder` extra; export it to int8 ONNX
    with `tvd export DIR` for fast serving).

    Encoder parameters (--param, defaults in brackets): epochs [14], lr [2e-4], head_lr [1e-3], batch_size [32],
    warmup [0.1], weight_decay [0.01], dropout [0.2], average_epochs [0; N keeps the mean of the last N
    epochs' weights], crf [true], bio_constraints [true; decode valid BIO sequences only], max_length [128],
    seed [0], threads [1], device [auto], encoder [all-minilm-l6-v2, or a local Hugging Face folder].
    """
    from tvd.config import parse_options
    from tvd.formats import read_dataset
    from tvd.students import make_student

    check_directory_destination(out, "student")
    utterances = [u for path in train_paths for u in read_dataset(path, fmt).utterances]
    student = make_student(kind, **parse_options(params, "--param"))
    if validation_path is not None:
        if not student.supports_validation:
            raise TvdError(
                E_BAD_PARAMS, f"--validation is for the encoder student, not {kind!r}", fix="leave --validation out"
            )
        student.fit(utterances, validation=read_dataset(validation_path, fmt).utterances)  # type: ignore[call-arg]
    else:
        student.fit(utterances)
    student.save(out)
    click.echo(f"trained {kind} student on {len(utterances)} utterances; saved to {out}")


@main.command(name="evaluate", short_help="Evaluate a saved student on test data (table and JSON).")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("test_path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", default=None, help="Test data format (detected from the path when omitted).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write all metrics to this JSON file.")
@click.option("--intent", "focus", default=None, help="Also report this intent's recall, precision and slot F1.")
@click.option("--trust-pickle", is_flag=True, help=TRUST_PICKLE_HELP)
def evaluate_command(
    model_dir: Path, test_path: Path, fmt: str | None, json_path: Path | None, focus: str | None, trust_pickle: bool
) -> None:
    """Evaluate a saved student on test data: intent accuracy, per-intent recall and precision, slot F1
    (seqeval, conlleval-compatible), sentence accuracy, each with its standard error."""
    from tvd.data.atomic import write_json
    from tvd.evaluate.metrics import evaluate
    from tvd.formats import read_dataset
    from tvd.report.table import comparison_table, per_intent_table
    from tvd.students import load_student

    student = load_student(model_dir, trust_pickle=trust_pickle)
    test = read_dataset(test_path, fmt).utterances
    if not test:
        raise TvdError(
            E_NO_UTTERANCES,
            "the test data holds no utterances: nothing to evaluate",
            file=test_path,
            fix="pass the test file itself (check the path and --format); it must hold labelled utterances",
        )
    metrics = evaluate(test, student.predict(test))
    click.echo(comparison_table({model_dir.name or str(model_dir): metrics}, focus_intent=focus))
    click.echo("")
    click.echo(per_intent_table(metrics))
    if json_path:
        write_json(json_path, metrics.to_dict())
        click.echo(f"wrote {json_path}")


@main.command(short_help="Convert a dataset between formats.")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option("--from", "src_fmt", default=None, help="Input format (detected from SRC when omitted).")
@click.option("--to", "dst_fmt", default=None, help="Output format (detected from DST when omitted).")
@click.option(
    "--skip-errors",
    is_flag=True,
    help="Skip malformed records (a line that is not valid UTF-8 too) and list them instead of stopping.",
)
def convert(src: Path, dst: Path, src_fmt: str | None, dst_fmt: str | None, skip_errors: bool) -> None:
    """Convert a dataset between formats: jsonl, bio (SNIPS/ATIS seq.in/seq.out/label), xsid (CoNLL),
    massive (annot_utt JSONL), rasa (Rasa 3 YAML), hf (Hugging Face datasets folder), linguist (numbered
    brackets).  An hf folder gets a dataset card (README.md); converting a run's generated.jsonl (or
    revalued / filtered / seeds) puts the run's provenance in it: teacher, prompt settings, filters, metrics."""
    from tvd.formats import convert as convert_dataset
    from tvd.formats.registry import destination_format

    write_options = {}
    if (dst_fmt or destination_format(dst)) == "hf":
        from tvd.report.card import describe, provenance_of_file

        provenance = provenance_of_file(src)
        write_options["provenance"] = provenance
        click.echo(describe(provenance))
    result = convert_dataset(src, dst, src_fmt, dst_fmt, skip_errors=skip_errors, write_options=write_options)
    for problem in result.problems:
        click.echo(f"skipped [{problem.code}] {problem.file}:{problem.line}: {problem.message}", err=True)
    click.echo(
        f"wrote {len(result.utterances)} utterances to {dst}"
        + (f" ({len(result.problems)} malformed record(s) skipped)" if result.problems else "")
    )


@main.command(hidden=True, short_help="List the teacher backends (old spelling of `tvd teacher list`).")
def teachers() -> None:
    """List the teacher backends a config's `teacher.backend` can name (same as `tvd teacher list`)."""
    echo_teacher_backends()


@main.command(short_help="Serve a saved student over HTTP (JSON API, health, Prometheus metrics).")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Server processes.")
@click.option(
    "--max-batch", default=64, show_default=True, type=click.IntRange(min=1), help="Most texts in one request."
)
@click.option(
    "--max-chars", default=1000, show_default=True, type=click.IntRange(min=1), help="Longest text, in characters."
)
@click.option(
    "--max-body-bytes",
    default=1_048_576,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest request body, in bytes.",
)
@click.option(
    "--micro-batch",
    default=None,
    type=click.IntRange(min=1),
    help="Predict requests that queue up during a prediction together, up to this many texts (1: off).  "
    "[default: 32 for the encoder student, 1 for others]",
)
@click.option(
    "--prediction-threads",
    default=None,
    type=click.IntRange(min=0),
    help="Threads that run predictions off the event loop; 0 predicts on the loop itself, which is fastest for "
    "a sub-millisecond student.  [default: 0 for the CRF student, 1 for others]",
)
@click.option(
    "--inline-max-texts",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    help="With --prediction-threads 0, a request with more texts is predicted in a worker thread, so that a large "
    "batch does not hold up /health and small requests.",
)
@click.option(
    "--api-key-env",
    metavar="VAR",
    default=None,
    help="Require the API key held in environment variable VAR (Authorization: Bearer <key> or X-API-Key: <key>) "
    "on every path but /health; the key is never given on the command line.  [default: no key]",
)
@click.option(
    "--limit-concurrency",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Open connections or running requests per worker at which new requests get 503.",
)
@click.option(
    "--read-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a client has to send a whole request (from connecting, or from the request's first byte); "
    "slower connections are closed.",
)
@click.option(
    "--keep-alive-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds an idle connection stays open after a response.",
)
@click.option(
    "--max-header-bytes",
    default=16_384,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest request head (request line and headers), in bytes; larger gets 431.",
)
@click.option(
    "--backlog", default=2048, show_default=True, type=click.IntRange(min=1), help="Connections queued before accept."
)
@click.option("--docs", is_flag=True, help="Serve /docs, /redoc and /openapi.json (the pages load assets from a CDN).")
@click.option("--trust-pickle", is_flag=True, help=TRUST_PICKLE_HELP)
@click.option("--access-log", is_flag=True, help="Log every request (costs throughput).")
def serve(
    model_dir: Path,
    host: str,
    port: int,
    workers: int,
    max_batch: int,
    max_chars: int,
    max_body_bytes: int,
    micro_batch: int | None,
    prediction_threads: int | None,
    inline_max_texts: int,
    api_key_env: str | None,
    limit_concurrency: int,
    read_timeout: float,
    keep_alive_timeout: float,
    max_header_bytes: int,
    backlog: int,
    docs: bool,
    trust_pickle: bool,
    access_log: bool,
) -> None:
    """Serve the student saved in MODEL_DIR (by `tvd train`, `tvd run`) over HTTP until Ctrl-C.

    \b
    Endpoints:
      POST /parse    {"text": "play jazz in the kitchen"} or {"texts": ["...", ...]}: intent,
                     confidence and slots with character spans (start, end, label, value)
      GET  /health   ok, the student kind and its label counts
      GET  /metrics  Prometheus text: requests by endpoint and status, latency histogram,
                     utterances parsed

    Bad requests get a 4xx JSON error {"error": {"code", "message", "fix"}}: malformed or
    too deeply nested JSON, or a text with a lone surrogate (400), a missing or wrong API key
    (401), wrong content type (415), body over --max-body-bytes (413), no or empty text, a text
    over --max-chars or a batch over --max-batch (422).  A failing prediction gets a 500 and the
    server keeps serving.  Each of --workers processes loads the student and keeps its own metrics.

    Any student kind is served: an encoder student exported with `tvd export` runs its int8 ONNX
    model (one thread); --micro-batch N predicts requests that queue up during a prediction together
    (up to N texts per call), which raised the encoder's throughput by a third under concurrent load
    (on by default for it).  The CRF student predicts on the event loop (--prediction-threads 0).
    """
    import os

    try:
        from tvd.serve import ServeSettings
        from tvd.serve.app import MODEL_DIR_ENV, create_app
        from tvd.serve.server import ConnectionLimits, ServerConfig, run_server
    except ImportError as exc:
        raise TvdError(
            E_NO_SERVE_DEPS, f"serving needs FastAPI and uvicorn ({exc})", fix="pip install 'teaching-via-data[server]'"
        ) from exc
    from tvd.students import load_student

    ServeSettings(api_key_env=api_key_env or "").api_key()  # a named but unset key variable stops here (E463)
    student = load_student(model_dir, trust_pickle=trust_pickle)  # a missing or damaged model stops here
    defaults = student.serve_defaults  # declared by the student's class
    if prediction_threads is None:
        prediction_threads = defaults["prediction_threads"]
    if micro_batch is None:
        micro_batch = defaults["micro_batch"]
    settings = ServeSettings(
        max_chars=max_chars,
        max_batch=max_batch,
        max_body_bytes=max_body_bytes,
        micro_batch=micro_batch,
        prediction_threads=prediction_threads,
        inline_max_texts=inline_max_texts,
        api_key_env=api_key_env or "",
        docs=docs,
        trust_pickle=trust_pickle,
    )
    limits = ConnectionLimits(
        limit_concurrency=limit_concurrency,
        keep_alive_timeout=keep_alive_timeout,
        read_timeout=read_timeout,
        max_header_bytes=max_header_bytes,
        backlog=backlog,
    )
    guarded = f", API key from ${api_key_env}" if api_key_env else ""
    click.echo(
        f"serving {student.kind} student from {model_dir} on http://{host}:{port} ({workers} worker(s){guarded})"
    )
    options: dict[str, object] = {
        "host": host,
        "port": port,
        "access_log": access_log,
        "log_level": "info",
        "timeout_graceful_shutdown": 5,
        "workers": workers,
    }
    if workers == 1:
        run_server(ServerConfig(create_app(student, settings), limits=limits, **options))
    else:
        os.environ.update(settings.to_environ())  # each worker builds its app from these (the key: from its VAR)
        os.environ[MODEL_DIR_ENV] = str(model_dir.resolve())
        run_server(ServerConfig("tvd.serve.app:create_app_from_environ", factory=True, limits=limits, **options))


# Commands that live in their own modules.
for _command in (
    export, upgrade_student, clasp, parser, parser_train_alias, parser_evaluate_alias, teacher_group, report
):
    main.add_command(_command)

if __name__ == "__main__":
    main()
