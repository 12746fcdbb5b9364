"""The one registry mechanism: objects and lazy ``"module:attr"`` entries, decorators, coded errors, and entry
points of installed packages (a real ``.dist-info`` on ``sys.path``, read by ``importlib.metadata``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tvd.errors import TvdError
from tvd.registry import Registry, is_reference, resolve


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on ``sys.path`` for plugin modules and ``.dist-info`` folders; its modules are forgotten after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("tvdplugin"):
            del sys.modules[name]


def install(site: Path, dist: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]) -> None:
    """Write plugin modules and a minimal installed distribution declaring ``entry_points`` (group -> name -> ref)."""
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source, encoding="utf-8")
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8")
    text = "".join(
        f"[{group}]\n" + "".join(f"{name} = {ref}\n" for name, ref in names.items())
        for group, names in entry_points.items()
    )
    (info / "entry_points.txt").write_text(text, encoding="utf-8")


class Thing:
    """A thing for tests.

    More words that listings do not show.
    """


def test_register_get_names_and_contains() -> None:
    things: Registry[object] = Registry("test-things", "thing", "E999")
    first = object()
    assert things.register("first", first) is first
    things.register("second", Thing)
    assert things.names() == ["first", "second"]
    assert things.get("first") is first and things.get("second") is Thing
    assert "first" in things and "third" not in things and 3 not in things
    assert things.entry_point_group == "tvd.test-things"


def test_register_as_a_class_decorator() -> None:
    things: Registry[type] = Registry("test-things", "thing", "E999")

    @things.register("decorated", description="made by a decorator")
    class Decorated:
        pass

    assert things.get("decorated") is Decorated and things.description("decorated") == "made by a decorator"


def test_registering_a_name_again_replaces_it() -> None:
    things: Registry[int] = Registry("test-things", "thing", "E999")
    things.register("n", 1)
    things.register("n", 2)
    assert things.names() == ["n"] and things.get("n") == 2


def test_unknown_name_is_one_coded_error_listing_the_names() -> None:
    things: Registry[int] = Registry("test-things", "thing", "E999")
    things.register("b", 1)
    things.register("a", 2)
    with pytest.raises(TvdError) as info:
        things.get("c", file="config.yaml")
    assert info.value.code == "E999" and info.value.file == "config.yaml"
    assert info.value.message == "unknown thing 'c'" and info.value.fix == "use one of: b, a"
    custom: Registry[int] = Registry("test-things", "thing", "E998", fix="pick from {names} or none")
    custom.register("x", 1)
    with pytest.raises(TvdError, match=r"pick from x or none"):
        custom.description("y")


def test_lazy_entries_are_imported_only_when_asked_for(site: Path) -> None:
    (site / "tvdplugin_lazy.py").write_text(
        "class Factory:\n    description = 'from the module'\n\n    @classmethod\n    def build(cls):\n"
        "        return cls()\n",
        encoding="utf-8",
    )
    things: Registry[object] = Registry("test-things", "thing", "E999")
    things.register("lazy", "tvdplugin_lazy:Factory")
    things.register("method", "tvdplugin_lazy:Factory.build")  # a dotted attribute, as entry points allow
    assert things.names() == ["lazy", "method"] and "tvdplugin_lazy" not in sys.modules
    factory = things.get("lazy")
    assert "tvdplugin_lazy" in sys.modules and factory is sys.modules["tvdplugin_lazy"].Factory
    assert isinstance(things.get("method")(), factory)
    assert things.description("lazy") == "from the module"


def test_a_reference_that_cannot_be_imported_is_a_coded_error() -> None:
    things: Registry[object] = Registry("test-things", "thing", "E999")
    things.register("missing", "tvdplugin_no_such_module:Thing")
    things.register("typo", "tvd.errors:NoSuchName")
    for name in ("missing", "typo"):
        with pytest.raises(TvdError) as info:
            things.get(name)
        assert info.value.code == "E999" and "cannot be imported" in info.value.message


def test_descriptions_come_from_the_registration_the_object_or_its_docstring() -> None:
    things: Registry[object] = Registry("test-things", "thing", "E999")
    things.register("given", Thing, description="said at registration")
    things.register("doc", Thing)
    assert things.describe() == [("given", "said at registration"), ("doc", "A thing for tests.")]


def test_references_and_resolve() -> None:
    assert is_reference("tvd.errors:TvdError") and is_reference("a.b:C.d")
    assert not is_reference("plain") and not is_reference("a:b:c") and not is_reference(":x") and not is_reference(3)
    assert resolve("tvd.errors:TvdError") is TvdError
    assert resolve("tvd.errors:TvdError.location") is TvdError.location


def test_entry_points_of_an_installed_package_are_found(site: Path) -> None:
    install(
        site,
        "tvdplugin-dist",
        {
            "tvd.test-plugins": {
                "zeta": "tvdplugin_ep:Zeta",
                "alpha": "tvdplugin_ep:Alpha",
                "own": "tvdplugin_ep:Alpha",
                "module": "tvdplugin_ep",
            }
        },
        {"tvdplugin_ep": 'class Alpha:\n    """Alpha from a plugin."""\n\n\nclass Zeta:\n    """Zeta."""\n'},
    )
    plugins: Registry[type] = Registry("test-plugins", "plugin", "E999")
    plugins.register("own", Thing)
    assert plugins.names() == ["own", "alpha", "module", "zeta"]  # code first, then entry points by name
    assert "tvdplugin_ep" not in sys.modules  # listing names imports nothing
    assert plugins.get("own") is Thing  # code wins over the entry point of the same name
    assert plugins.get("alpha").__name__ == "Alpha" and plugins.description("zeta") == "Zeta."
    assert plugins.get("module") is sys.modules["tvdplugin_ep"]  # a module alone, as entry points allow
    with pytest.raises(TvdError) as info:
        plugins.get("omega")
    assert info.value.fix == "use one of: own, alpha, module, zeta"


def test_refresh_reads_entry_points_installed_later(site: Path) -> None:
    plugins: Registry[type] = Registry("test-late", "plugin", "E999")
    plugins.register("own", Thing)
    assert plugins.names() == ["own"]
    install(
        site,
        "tvdplugin-late",
        {"tvd.test-late": {"late": "tvdplugin_late:Late"}},
        {"tvdplugin_late": "class Late: ..."},
    )
    assert plugins.names() == ["own"]  # entry points are read once ...
    plugins.refresh()
    assert plugins.names() == ["own", "late"]  # ... and again after refresh()


def test_a_package_adds_a_teacher_and_a_filter_without_touching_tvd(site: Path) -> None:
    from tvd.data.utterance import Utterance
    from tvd.filters import FILTERS, apply_filters
    from tvd.teachers.base import GenerationParams
    from tvd.teachers.registry import TEACHERS, make_teacher, teacher_backends

    install(
        site,
        "tvdplugin-full",
        {
            "tvd.teachers": {"echo": "tvdplugin_full:EchoTeacher"},
            "tvd.filters": {"short": "tvdplugin_full:ShortFilter.from_context"},
        },
        {
            "tvdplugin_full": (
                "from tvd.filters.base import Filter\n"
                "from tvd.teachers.scripted import ScriptedTeacher\n\n\n"
                "class EchoTeacher(ScriptedTeacher):\n"
                '    """Echoes a fixed answer."""\n\n'
                "    backend = 'echo'\n\n"
                "    def __init__(self, answer: str = 'hi') -> None:\n"
                "        super().__init__([answer], name='echo')\n\n\n"
                "class ShortFilter(Filter):\n"
                "    name, reason = 'short', 'too_short'\n\n"
                "    def check(self, utterance):\n"
                "        return self.reason if len(utterance.text.split()) < 2 else None\n"
            )
        },
    )
    TEACHERS.refresh()
    FILTERS.refresh()
    try:
        teacher = make_teacher("echo", answer="play [1 jazz ]")
        assert [c.text for c in teacher.generate("p", 2, GenerationParams())] == ["play [1 jazz ]"] * 2
        assert ("echo", "Echoes a fixed answer.") in teacher_backends()
        with pytest.raises(TvdError) as info:
            make_teacher("echo", colour="red")
        assert info.value.code == "E311"
        result = apply_filters([Utterance("hi"), Utterance("hello there")], filters=("exact", "short"))
        assert [u.text for u in result.kept] == ["hello there"] and result.counts == {
            "exact_duplicate": 0,
            "too_short": 1,
        }
    finally:
        sys.path.remove(str(site))
        TEACHERS.refresh()
        FILTERS.refresh()
    assert "echo" not in TEACHERS and "short" not in FILTERS
