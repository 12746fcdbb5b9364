"""``--ray ADDRESS``, shared by ``tvd run``, ``tvd generate`` and ``tvd clasp``: run the teacher calls on a Ray
cluster (the config's ``engine`` block with ``backend: ray`` and this address; its other fields kept)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

RAY_HELP = (
    "Run the teacher on Ray actors: auto (this machine's `ray start` cluster), local (a Ray inside this process), "
    "host:port or ray://host:port; engine: in the config sets workers, CPUs and endpoints (default 2 workers)."
)


def ray_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--ray ADDRESS`` into the parameter ``ray_address`` (None when not given)."""
    return click.option("--ray", "ray_address", default=None, metavar="ADDRESS", help=RAY_HELP)(command)


def apply_ray(config: Any, ray_address: str | None) -> None:
    """Set ``config.engine`` for ``--ray ADDRESS`` (a TvdError E504 for a malformed address)."""
    if ray_address is None:
        return
    from pydantic import ValidationError

    from tvd.errors import E_CONFIG_FIELD, TvdError
    from tvd.jobs.teacher import with_ray_address

    try:
        config.engine = with_ray_address(config.engine, ray_address)
    except ValidationError as exc:
        raise TvdError(
            E_CONFIG_FIELD,
            f"--ray {ray_address!r}: {exc.errors()[0]['msg']}",
            fix="use auto, local, host:port or ray://host:port",
        ) from exc
