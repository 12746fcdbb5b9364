"""YAML run configuration for ``tvd run`` / ``tvd generate``, validated with pydantic.

Relative data paths are resolved against the config file's folder, so an example directory carries its
own data; ``output_dir`` is resolved against the working directory (default ``runs/<name>``).
A config error names the file, the field and what is expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tvd.errors import TvdError


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Block):
    base: Path = Field(description="existing intents' training data")
    seed: Path = Field(description="the few annotated utterances of the new intent")
    test: Path | None = Field(default=None, description="held-out real test utterances of all intents")
    format: str | None = Field(default=None, description="input format; detected from the path when omitted")
    skip_errors: bool = Field(default=False, description="skip malformed records and report them")


class PriceConfig(_Block):
    input_per_million: float = Field(default=0.0, ge=0.0, description="US dollars per million prompt tokens")
    output_per_million: float = Field(default=0.0, ge=0.0, description="US dollars per million completion tokens")


class TeacherConfig(_Block):
    """The teacher backend and how the generation engine talks to it.

    The defaults (one request at a time, no rate limits, free) suit the embedded teacher; remote servers
    usually want ``concurrency`` > 1, the provider's rate limits and a ``price`` table.
    """

    backend: str = "llamacpp"
    options: dict[str, Any] = Field(default_factory=dict, description="backend options, e.g. model_path, n_threads")
    concurrency: int = Field(default=1, ge=1, le=1024, description="requests in flight (1 for in-process models)")
    adaptive_concurrency: bool = Field(default=False, description="raise concurrency while healthy, halve on 429")
    max_concurrency: int = Field(default=32, ge=1, le=1024, description="ceiling of adaptive concurrency")
    requests_per_minute: float | None = Field(default=None, gt=0, description="request rate limit (none if unset)")
    tokens_per_minute: float | None = Field(default=None, gt=0, description="token rate limit, prompt + max_tokens")
    max_retries: int = Field(default=5, ge=0, le=100, description="retries of a request on 429 / 5xx / timeouts")
    backoff_s: float = Field(default=1.0, ge=0.0, description="first retry delay, doubled per retry (with jitter)")
    max_backoff_s: float = Field(default=60.0, ge=0.0, description="longest delay between retries")
    timeout_s: float | None = Field(
        default=None, gt=0, description="per-request timeout, passed to the backend as options.timeout_s"
    )
    price: PriceConfig | None = Field(default=None, description="per-million-token prices for cost and --budget")

    def backend_options(self) -> dict[str, Any]:
        """The options to build the backend with (``timeout_s`` added when set here)."""
        options = dict(self.options)
        if self.timeout_s is not None:
            options.setdefault("timeout_s", self.timeout_s)
        return options


class GenerationConfig(_Block):
    requests: int = Field(default=50, ge=1, description="number of prompts")
    samples_per_request: int = Field(default=2, ge=1, le=999)
    examples_per_prompt: int = Field(default=10, ge=0, le=10, description="0 = zero-shot (label names only)")
    wildcard_rate: float = Field(default=0.5, ge=0.0, le=1.0)
    language: str = Field(default="en", description="output language code (en, de, it, ja, ...)")
    extra_labels: list[str] = Field(default_factory=list, description="slots the seeds do not use but may")
    fixed_values: dict[str, list[str]] = Field(default_factory=dict, description="slot -> values to fix")
    constrained: bool = Field(default=True, description="grammar-constrained decoding")
    temperature: float = Field(default=0.9, ge=0.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    repeat_penalty: float = Field(default=1.0, gt=0.0)
    max_tokens: int = Field(default=48, ge=1)
    seed: int = 0


class StudentConfig(_Block):
    kind: str = "crf"
    params: dict[str, Any] = Field(default_factory=dict)


class RunConfig(_Block):
    name: str = "run"
    intent: str | None = Field(default=None, description="the new intent; inferred from the seed file if omitted")
    output_dir: Path | None = None
    data: DataConfig
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    filters: list[Literal["exact", "seed", "template"]] = Field(default_factory=lambda: ["exact", "seed"])
    student: StudentConfig = Field(default_factory=StudentConfig)

    @property
    def run_dir(self) -> Path:
        return self.output_dir or Path("runs") / self.name


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run config."""
    path = Path(path)
    if not path.is_file():
        raise TvdError("E501", f"config file not found: {path}", file=path, fix="give the path of a YAML run config")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise TvdError(
            "E502",
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            file=path,
            line=mark.line + 1 if mark else None,
            fix="check indentation and quoting",
        ) from exc
    if not isinstance(raw, dict):
        raise TvdError(
            "E503", "the config must be a YAML mapping", file=path, fix="see examples/new-intent/config.yaml"
        )
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field_path = ".".join(str(p) for p in first["loc"])
        raise TvdError(
            "E504",
            f"field {field_path!r}: {first['msg']} ({len(exc.errors())} problem(s) in all)",
            file=path,
            fix="see examples/new-intent/config.yaml for every field and its default",
        ) from exc
    base_dir = path.resolve().parent
    data = config.data
    for name in ("base", "seed", "test"):
        value = getattr(data, name)
        if value is not None and not value.is_absolute():
            setattr(data, name, base_dir / value)
    return config
