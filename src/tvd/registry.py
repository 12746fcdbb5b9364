"""One mechanism for everything ``tvd`` finds by name: teachers, students, filters, formats, CLASP strategies.

A :class:`Registry` maps names to objects of one kind (classes, factories, specs).  An entry is the object
itself or a lazy reference ``"module:attr"`` (``attr`` may be dotted: ``"pkg.mod:Class.from_context"``), which
is imported only when the entry is first asked for, so optional dependencies stay optional.

Installed packages add entries without touching ``tvd``, through Python entry points in the group
``tvd.<group>`` (read on first use)::

    # pyproject.toml of a user's package
    [project.entry-points."tvd.teachers"]
    mybackend = "my_package.teacher:MyTeacher"

Using one::

    STRATEGIES = Registry("strategies", "CLASP strategy", E_UNKNOWN_STRATEGY)  # a code from tvd.errors
    STRATEGIES.register("rs", "tvd.clasp.strategies:ReplaceSlots", description="resample slot values")

    @STRATEGIES.register("gb", description="generate both")
    class GenerateBoth: ...

    STRATEGIES.names()      # ['rs', 'gb'] and then any entry points, sorted
    STRATEGIES.get("rs")    # imports tvd.clasp.strategies now and returns ReplaceSlots
    STRATEGIES.get("xx")    # TvdError [E613] unknown CLASP strategy 'xx' / fix: use one of: rs, gb

A name registered in code wins over an entry point of the same name; registering a name again replaces it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from tvd.errors import TvdError

T = TypeVar("T")
Obj = TypeVar("Obj")

ENTRY_POINT_PREFIX = "tvd."


@dataclass
class _Entry:
    """One registered name: its object (or ``"module:attr"`` reference until loaded) and a description."""

    target: Any
    description: str | None
    source: str  # "code" or "entry point of <distribution>"
    loaded: bool


def is_reference(value: object) -> bool:
    """Whether ``value`` is a lazy ``"module:attr"`` reference (a string with a module and an attribute)."""
    return isinstance(value, str) and value.count(":") == 1 and all(value.split(":"))


def resolve(reference: str) -> Any:
    """The object a ``"module:attr"`` reference names (``attr`` may be dotted; ``"module"`` alone names the
    module, as an entry point may); imports the module."""
    module_name, _, attr = reference.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Named objects of one kind, registered in code or by entry points in the group ``tvd.<group>``.

    ``kind_noun`` names the kind in messages (``"teacher backend"``); ``error_code`` is the code of the
    :class:`~tvd.errors.TvdError` for an unknown (or unimportable) name; ``fix`` is its fix, where
    ``{names}`` becomes the known names, comma-separated.
    """

    def __init__(self, group: str, kind_noun: str, error_code: str, *, fix: str = "use one of: {names}") -> None:
        self.group = group
        self.kind_noun = kind_noun
        self.error_code = error_code
        self.fix = fix
        self._entries: dict[str, _Entry] = {}
        self._entry_points_read = False

    @property
    def entry_point_group(self) -> str:
        """The entry-point group other packages register in: ``tvd.<group>``."""
        return ENTRY_POINT_PREFIX + self.group

    def __repr__(self) -> str:
        return f"Registry({self.group!r}, {len(self._entries)} entries)"

    # -- registering ----------------------------------------------------------------------------------

    @overload
    def register(self, name: str, obj: None = None, *, description: str | None = None) -> Callable[[Obj], Obj]: ...

    @overload
    def register(self, name: str, obj: Obj, *, description: str | None = None) -> Obj: ...

    def register(self, name: str, obj: Any = None, *, description: str | None = None) -> Any:
        """Register ``obj`` (an object or a lazy ``"module:attr"`` string) under ``name``; returns ``obj``.

        Without ``obj`` it returns a decorator: ``@registry.register("name")`` above a class or function.
        ``description`` is the one line listings show (default: the object's ``description`` attribute or the
        first line of its docstring, read when asked for).
        """
        if obj is None:

            def decorate(target: Obj) -> Obj:
                self._add(name, target, description, "code")
                return target

            return decorate
        self._add(name, obj, description, "code")
        return obj

    def _add(self, name: str, obj: Any, description: str | None, source: str, *, lazy: bool | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind_noun} needs a non-empty string name, got {name!r}")
        lazy = is_reference(obj) if lazy is None else lazy
        self._entries[name] = _Entry(obj, description, source, loaded=not lazy)

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        found = importlib.metadata.entry_points(group=self.entry_point_group)
        for point in sorted(found, key=lambda p: p.name):
            if point.name not in self._entries:  # code wins
                dist = getattr(point.dist, "name", None) or "an installed package"
                reference = f"{point.module}:{point.attr}" if point.attr else point.module
                self._add(point.name, reference, None, f"entry point of {dist}", lazy=True)

    def refresh(self) -> None:
        """Read the entry points again on next use (after installing a package in the same process)."""
        self._entries = {name: entry for name, entry in self._entries.items() if entry.source == "code"}
        self._entry_points_read = False

    # -- looking up -----------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The registered names: those registered in code in their order, then entry points by name."""
        self._read_entry_points()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def _unknown(self, name: str, file: str | Path | None) -> TvdError:
        return TvdError(
            self.error_code,
            f"unknown {self.kind_noun} {name!r}",
            file=file,
            fix=self.fix.format(names=", ".join(self.names())),
        )

    def get(self, name: str, *, file: str | Path | None = None) -> T:
        """The object registered as ``name``, imported now if it was a lazy reference.

        An unknown name, or a reference that cannot be imported, raises :class:`TvdError` (``error_code``)
        listing the known names; ``file`` is the place the name came from, for the message.
        """
        if name not in self:
            raise self._unknown(name, file)
        entry = self._entries[name]
        if not entry.loaded:
            try:
                entry.target = resolve(entry.target)
            except (ImportError, AttributeError) as exc:
                raise TvdError(
                    self.error_code,
                    f"{self.kind_noun} {name!r} ({entry.source}) cannot be imported from {entry.target!r}: {exc}",
                    file=file,
                    fix="install what it needs, or reinstall the package that registers it",
                ) from exc
            entry.loaded = True
        return entry.target  # type: ignore[no-any-return]

    def description(self, name: str) -> str:
        """One line about ``name``: as registered, else the object's ``description`` or docstring's first line."""
        if name not in self:
            raise self._unknown(name, None)
        given = self._entries[name].description
        if given is not None:
            return given
        obj = self.get(name)
        own = getattr(obj, "description", None)
        if isinstance(own, str) and own:
            return own
        return (inspect.getdoc(obj) or "").strip().split("\n", 1)[0]

    def describe(self) -> list[tuple[str, str]]:
        """``(name, description)`` for every name, in :meth:`names` order (loads entries without a description)."""
        return [(name, self.description(name)) for name in self.names()]
