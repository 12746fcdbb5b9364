"""Label mapping between schemes (SNIPS -> xSID)."""

from __future__ import annotations

from pathlib import Path

import pytest

from factories import bio, shared_data
from tvd.data.label_mapping import LabelMapping, parse_label_mapping, read_label_mapping
from tvd.errors import TvdError

XSID_STYLE = """city location
state location
timeRange datetime
GetWeather weather/find
"""


def test_maps_intent_and_slots_keeps_offsets_and_unlisted_names() -> None:
    mapping = parse_label_mapping(XSID_STYLE)
    u = bio("weather in dallas texas tomorrow at noon", "O O B-city B-state B-timeRange O B-x", "GetWeather")
    mapped = mapping.apply(u)
    assert mapped.intent == "weather/find"
    assert [s.label for s in mapped.spans] == ["location", "location", "datetime", "x"]
    assert [(s.start, s.end) for s in mapped.spans] == [(s.start, s.end) for s in u.spans]
    assert mapped.text == u.text
    # adjacent slots mapped to one label stay two slots
    assert mapped.to_bio()[1][2:4] == ["B-location", "B-location"]
    other = bio("play jazz", "O B-genre", "PlayMusic")
    assert mapping.apply(other) == other


def test_keeps_tokens_language_and_meta() -> None:
    u = bio("東京 の 天気", "B-city O O", "GetWeather", language="ja").replace(meta={"id": "7"})
    mapped = LabelMapping({"city": "location"}).apply(u)
    assert mapped.language == "ja"
    assert mapped.tokens == u.tokens
    assert mapped.meta == {"id": "7"}
    assert mapped.slots == [("location", "東京")]


def test_comments_blank_lines_and_repeated_identical_lines() -> None:
    mapping = parse_label_mapping("# header\n\ncity location\ncity location\n")
    assert dict(mapping.names) == {"city": "location"}


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "map.txt"
    path.write_text("city location\nstate\n", encoding="utf-8")
    with pytest.raises(TvdError) as info:
        read_label_mapping(path)
    assert info.value.code == "E170"
    assert info.value.line == 2
    assert str(path) in str(info.value)


def test_conflicting_targets() -> None:
    with pytest.raises(TvdError) as info:
        parse_label_mapping("city location\ncity place\n", "m.txt")
    assert info.value.code == "E171"
    assert "line 1" in info.value.message and info.value.line == 2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TvdError) as info:
        read_label_mapping(tmp_path / "absent.txt")
    assert info.value.code == "E172"


def test_shipped_xsid_mapping_if_present() -> None:
    path = shared_data("xsid") / "snips_to_xsid_mapping.txt"
    if not path.is_file():
        pytest.skip("shared xSID data not present")
    mapping = read_label_mapping(path)
    assert mapping.name("GetWeather") == "weather/find"
    assert mapping.name("playlist_owner") == "reference"
    assert mapping.name("AddToPlaylist") == "AddToPlaylist"
