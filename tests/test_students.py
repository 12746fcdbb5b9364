"""The student interface, the registry and the CRF + TF-IDF student."""

from __future__ import annotations

import hashlib
import itertools
import json
import pathlib
import random
import re
from pathlib import Path

import joblib
import numpy as np
import pytest

from tvd.data.utterance import Span, Utterance, spans_from_tags
from tvd.errors import TvdError
from tvd.evaluate import evaluate
from tvd.formats import read_dataset
from tvd.students import CrfStudent, Student, load_student, make_student, student_kinds
from tvd.students.base import input_utterance
from tvd.students.crf import _intent_text
from tvd.students.features import sentence_features, word_shape

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "new-intent"

_SLOT = re.compile(r"\[(\w+):([^\]]+)\]")


def mark(text: str, intent: str) -> Utterance:
    """``"play [artist:adele] now"`` -> an utterance with an ``artist`` span over ``adele``."""
    spans, plain, cursor = [], [], 0
    for match in _SLOT.finditer(text):
        plain.append(text[cursor : match.start()])
        start = sum(len(p) for p in plain)
        plain.append(match.group(2))
        spans.append(Span(start, start + len(match.group(2)), match.group(1)))
        cursor = match.end()
    plain.append(text[cursor:])
    return Utterance("".join(plain), intent, tuple(spans))


CITIES = ["paris", "london", "new york", "tokyo", "berlin", "rome"]
DAYS = ["tomorrow", "today", "on monday", "next week"]
ARTISTS = ["adele", "the beatles", "miles davis", "nina simone", "queen", "bob marley"]
SERVICES = ["spotify", "deezer", "youtube"]
WEATHER = [
    "what is the weather in [city:{c}] [date:{d}]",
    "will it rain in [city:{c}] [date:{d}]",
    "forecast for [city:{c}] [date:{d}]",
]
MUSIC = [
    "play [artist:{a}] on [service:{s}]",
    "put on some [artist:{a}] using [service:{s}]",
    "i want to hear [artist:{a}] on [service:{s}]",
]


def dataset() -> tuple[list[Utterance], list[Utterance]]:
    """Template data; the test split holds filler combinations never seen together in training."""
    train, test = [], []
    for k, (template, (c, d)) in enumerate(itertools.product(WEATHER, itertools.product(CITIES, DAYS))):
        (test if k % 7 == 3 else train).append(mark(template.format(c=c, d=d), "GetWeather"))
    for k, (template, (a, s)) in enumerate(itertools.product(MUSIC, itertools.product(ARTISTS, SERVICES))):
        (test if k % 7 == 3 else train).append(mark(template.format(a=a, s=s), "PlayMusic"))
    return train, test


@pytest.fixture(scope="module")
def trained() -> tuple[CrfStudent, list[Utterance]]:
    train, test = dataset()
    return make_student("crf", max_iterations=50).fit(train), test


def test_registry_knows_crf_and_rejects_unknown_kinds() -> None:
    assert "crf" in student_kinds()
    assert isinstance(make_student("crf", c1=0.2), CrfStudent)
    with pytest.raises(TvdError) as info:
        make_student("bert")
    assert info.value.code == "E403" and "crf" in (info.value.fix or "")


def test_invalid_parameters_are_reported() -> None:
    with pytest.raises(TvdError) as info:
        make_student("crf", intent_model="forest", c1=-1)
    assert info.value.code == "E406"
    assert "intent_model" in info.value.message and "c1" in info.value.message
    for params in ({"c1": "lots"}, {"depth": 3}):
        with pytest.raises(TvdError) as info:
            make_student("crf", **params)
        assert info.value.code == "E406"
    assert make_student("crf", intent_model="logreg").C == 10.0 and make_student("crf").C == 1.0


def test_student_learns_held_out_variations(trained: tuple[CrfStudent, list[Utterance]]) -> None:
    student, test = trained
    predictions = student.predict(test)
    assert [p.text for p in predictions] == [t.text for t in test]
    assert [p.intent for p in predictions] == [t.intent for t in test]
    exact = sum(p.spans == t.spans for p, t in zip(predictions, test, strict=True))
    assert exact >= len(test) - 1, [
        (p.text, p.slots) for p, t in zip(predictions, test, strict=True) if p.spans != t.spans
    ]


def test_predict_accepts_strings_and_returns_character_spans(trained: tuple[CrfStudent, list[Utterance]]) -> None:
    student, _ = trained
    (prediction,) = student.predict(["will it rain in berlin on monday"])
    assert prediction.intent == "GetWeather"
    assert prediction.slots == [("city", "berlin"), ("date", "on monday")]
    assert 0.5 < prediction.meta["intent_confidence"] <= 1.0
    assert student.predict_one("play queen on deezer").slots == [("artist", "queen"), ("service", "deezer")]


def test_gold_spans_do_not_leak_into_prediction(trained: tuple[CrfStudent, list[Utterance]]) -> None:
    student, _ = trained
    # A gold span boundary inside a whitespace token would split the token if the student read the spans.
    gold = Utterance("play adele on spotifyx", "PlayMusic", (Span(14, 21, "service"),))
    prediction = student.predict([gold])[0]
    assert all(span.end != 21 for span in prediction.spans)
    assert prediction.intent == "PlayMusic"


def test_predict_keeps_source_tokenisation_and_meta(trained: tuple[CrfStudent, list[Utterance]]) -> None:
    student, _ = trained
    tokens = ((0, 4), (5, 10), (11, 13), (14, 21))
    source = Utterance("play adele on spotify", "WrongIntent", (), tokens=tokens, meta={"id": 7})
    prediction = student.predict([source])[0]
    assert prediction.tokens == tokens and prediction.meta["id"] == 7
    assert prediction.slots == [("artist", "adele"), ("service", "spotify")]


def test_empty_text_is_predicted_without_slots(trained: tuple[CrfStudent, list[Utterance]]) -> None:
    student, _ = trained
    prediction = student.predict_one("")
    assert prediction.spans == () and prediction.intent in {"GetWeather", "PlayMusic"}


def test_logreg_intent_model_gives_probabilities() -> None:
    train, test = dataset()
    student = make_student("crf", intent_model="logreg", balance=True, max_iterations=20).fit(train)
    predictions = student.predict(test)
    assert [p.intent for p in predictions] == [t.intent for t in test]
    assert all(0.5 < p.meta["intent_confidence"] <= 1.0 for p in predictions)


def test_single_intent_training_predicts_that_intent() -> None:
    train, _ = dataset()
    weather = [u for u in train if u.intent == "GetWeather"]
    prediction = make_student("crf", max_iterations=20).fit(weather).predict_one("forecast for rome today")
    assert prediction.intent == "GetWeather" and prediction.meta["intent_confidence"] == 1.0


def test_save_load_round_trip(tmp_path, trained: tuple[CrfStudent, list[Utterance]]) -> None:
    student, test = trained
    student.save(tmp_path / "model")
    metadata = json.loads((tmp_path / "model" / "student.json").read_text())
    assert metadata["kind"] == "crf" and metadata["format_version"] == 2
    assert metadata["intents"] == ["GetWeather", "PlayMusic"]
    assert metadata["slot_labels"] == ["artist", "city", "date", "service"]
    assert metadata["params"]["max_iterations"] == 50
    loaded = load_student(tmp_path / "model")
    assert isinstance(loaded, CrfStudent) and loaded.max_iterations == 50
    before, after = student.predict(test), loaded.predict(test)
    assert [(p.intent, p.spans, p.meta) for p in before] == [(p.intent, p.spans, p.meta) for p in after]


def test_unfitted_student_refuses_to_predict_or_save(tmp_path) -> None:
    student = make_student("crf")
    assert not student.is_fitted
    for call in (lambda: student.predict(["hello"]), lambda: student.save(tmp_path / "x")):
        with pytest.raises(TvdError) as info:
            call()
        assert info.value.code == "E404" and "fit" in (info.value.fix or "")


def test_loading_missing_or_damaged_directories(tmp_path) -> None:
    with pytest.raises(TvdError) as info:
        load_student(tmp_path / "nowhere")
    assert info.value.code == "E401" and info.value.fix
    (tmp_path / "empty").mkdir()
    with pytest.raises(TvdError) as info:
        load_student(tmp_path / "empty")
    assert info.value.code == "E401"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "student.json").write_text('{"kind": "crf",\n  oops')
    with pytest.raises(TvdError) as info:
        load_student(bad)
    assert info.value.code == "E402" and info.value.line == 2
    (bad / "student.json").write_text('{"kind": "hmm"}')
    with pytest.raises(TvdError) as info:
        load_student(bad)
    assert info.value.code == "E403"
    (bad / "student.json").write_text('{"kind": "crf", "format_version": 2}')
    with pytest.raises(TvdError) as info:
        load_student(bad)
    assert info.value.code == "E409" and "crf.crfsuite" in info.value.message
    (bad / "student.json").write_text('{"kind": "crf", "format_version": 7}')
    with pytest.raises(TvdError) as info:
        load_student(bad)
    assert info.value.code == "E402"
    # format version 1 was a pickle: refused without trust; with it, read (and checked) as before
    (bad / "student.json").write_text('{"kind": "crf", "format_version": 1}')
    with pytest.raises(TvdError) as info:
        load_student(bad)
    assert info.value.code == "E408" and "upgrade-student" in (info.value.fix or "")
    with pytest.raises(TvdError) as info:
        load_student(bad, trust_pickle=True)
    assert info.value.code == "E401" and "model.joblib" in info.value.message
    (bad / "model.joblib").write_bytes(b"not a pickle")
    with pytest.raises(TvdError) as info:
        load_student(bad, trust_pickle=True)
    assert info.value.code == "E402"


# -- files: no pickle, each checked against its sha256 before it is read -----------------------------


@pytest.fixture(scope="module")
def snips_like() -> tuple[list[Utterance], list[Utterance]]:
    """Real SNIPS utterances (the shipped example: six intents, 100 each) and their test set."""
    return (
        read_dataset(EXAMPLE / "base.jsonl", "jsonl").utterances,
        read_dataset(EXAMPLE / "test.jsonl", "jsonl").utterances,
    )


def _predictions(student: Student, items: list) -> list[tuple]:
    return [(p.text, p.intent, p.spans, p.meta.get("intent_confidence")) for p in student.predict(items)]


@pytest.mark.parametrize("intent_model", ["svm", "logreg"])
@pytest.mark.parametrize("data", ["snips", "templates"])
def test_a_loaded_student_predicts_exactly_what_it_predicted(tmp_path, snips_like, intent_model, data) -> None:
    if data == "snips":
        train, test = snips_like
    else:
        train, test = dataset()
    student = make_student("crf", intent_model=intent_model, balance=True, max_iterations=30).fit(train)
    items = [*test, "", "zzzz qqqq", "Play THE Song by Adele!"]  # unseen n-grams only, empty, upper case
    loaded = load_student(student.save(tmp_path / "model"))
    before, after = _predictions(student, items), _predictions(loaded, items)
    assert [b[:3] for b in before] == [a[:3] for a in after]  # texts, intents, spans
    confidences = np.array([b[3] for b in before]), np.array([a[3] for a in after])
    np.testing.assert_allclose(confidences[1], confidences[0], rtol=0, atol=1e-12)
    # and what the scikit-learn pipeline itself predicts
    intent_texts = [_intent_text(input_utterance(i)) for i in items]
    assert [a[1] for a in after] == list(student._pipeline.predict(intent_texts))


def test_one_intent_and_no_intent_round_trip(tmp_path) -> None:
    train, _ = dataset()
    weather = [u for u in train if u.intent == "GetWeather"]
    texts = ["forecast for rome today", "play queen on deezer", ""]
    for name, data, intent, confidence in [
        ("one", weather, "GetWeather", 1.0),
        ("none", [u.replace(intent=None) for u in weather], None, None),
    ]:
        student = make_student("crf", max_iterations=20).fit(data)
        directory = student.save(tmp_path / name)
        assert not (directory / "intent.npz").exists()
        loaded = load_student(directory)
        assert _predictions(loaded, texts) == _predictions(student, texts)
        assert {(p.intent, p.meta.get("intent_confidence")) for p in loaded.predict(texts)} == {(intent, confidence)}


def test_saved_files_are_data_with_their_sha256_in_student_json(tmp_path, trained) -> None:
    student, _ = trained
    directory = student.save(tmp_path / "model")
    assert sorted(p.name for p in directory.iterdir()) == ["crf.crfsuite", "intent.json", "intent.npz", "student.json"]
    record = json.loads((directory / "student.json").read_text())["files"]
    assert record == {
        name: hashlib.sha256((directory / name).read_bytes()).hexdigest()
        for name in ("crf.crfsuite", "intent.json", "intent.npz")
    }
    assert (directory / "crf.crfsuite").read_bytes()[:4] == b"lCRF"  # crfsuite's own model file
    import pycrfsuite

    tagger = pycrfsuite.Tagger()
    tagger.open(str(directory / "crf.crfsuite"))
    assert sorted(tagger.labels()) == sorted(student._crf.labels)
    description = json.loads((directory / "intent.json").read_text())
    assert description["kind"] == "linear" and description["classifier"] == "svm"
    assert description["classes"] == ["GetWeather", "PlayMusic"]
    assert [v["analyzer"] for v in description["vectorisers"]] == ["word", "char_wb"]
    with np.load(directory / "intent.npz", allow_pickle=False) as arrays:
        assert arrays["coef"].dtype == np.float64 and arrays["coef"].shape[0] == 1  # two classes: one row


def _tampered(tmp_path: Path, trained, name: str) -> Path:
    student, _ = trained
    directory = student.save(tmp_path / name.replace(".", "-"))
    data = bytearray((directory / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (directory / name).write_bytes(bytes(data))
    return directory


@pytest.mark.parametrize("name", ["crf.crfsuite", "intent.json", "intent.npz"])
def test_a_changed_file_is_refused_before_it_is_read(tmp_path, trained, name) -> None:
    directory = _tampered(tmp_path, trained, name)
    with pytest.raises(TvdError) as info:
        load_student(directory)
    assert info.value.code == "E407" and name in info.value.message and info.value.fix
    assert info.value.file == str(directory / name)


def test_unrecorded_missing_and_mismatched_files(tmp_path, trained) -> None:
    student, _ = trained
    directory = student.save(tmp_path / "model")
    metadata = json.loads((directory / "student.json").read_text())

    def load_with(files: dict) -> TvdError:
        (directory / "student.json").write_text(json.dumps({**metadata, "files": files}))
        with pytest.raises(TvdError) as info:
            load_student(directory)
        return info.value

    record = metadata["files"]
    error = load_with({k: v for k, v in record.items() if k != "intent.npz"})  # loaded, but not recorded
    assert error.code == "E407" and "intent.npz" in error.message and "no sha256" in error.message
    error = load_with({**record, "intent.npz": "0" * 64})
    assert error.code == "E407" and "intent.npz" in error.message
    (directory / "intent.npz").unlink()  # recorded, but missing
    error = load_with(record)
    assert error.code == "E409" and "intent.npz" in error.message and "missing" in error.message
    # student.json of one kind beside the files of another: a crf student.json over an encoder's record
    encoder = tmp_path / "encoder"
    (encoder / "tokenizer").mkdir(parents=True)
    for name in ("model.safetensors", "encoder_config.json", "tokenizer/vocab.txt"):
        (encoder / name).write_bytes(b"x")
    files = {name: hashlib.sha256(b"x").hexdigest() for name in ("model.safetensors", "encoder_config.json")}
    (encoder / "student.json").write_text(json.dumps({**metadata, "files": files}))
    with pytest.raises(TvdError) as info:
        load_student(encoder)
    assert info.value.code == "E409" and "crf.crfsuite" in info.value.message
    assert "model.safetensors" in info.value.message
    # and the other way round: an encoder student.json over a crf student's files
    (directory / "student.json").write_text(json.dumps({**metadata, "kind": "encoder", "params": {}, "tags": ["O"]}))
    with pytest.raises(TvdError) as info:
        load_student(directory)
    assert info.value.code == "E409" and "tokenizer/" in info.value.message


def test_saving_over_an_older_student_leaves_no_stale_files(tmp_path, trained) -> None:
    student, _ = trained
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "model.joblib").write_bytes(b"an old pickle")
    (directory / "intent.npz").write_bytes(b"old arrays")
    weather = [u for u in dataset()[0] if u.intent == "GetWeather"]
    make_student("crf", max_iterations=5).fit(weather).save(directory)
    assert not (directory / "model.joblib").exists() and not (directory / "intent.npz").exists()
    assert load_student(directory).predict_one("forecast for rome").intent == "GetWeather"
    student.save(directory)
    assert (directory / "intent.npz").is_file() and load_student(directory).intents_ == student.intents_


# -- format version 1 (model.joblib, a pickle): refused unless trusted -------------------------------


class _Payload:
    """Unpickling this creates ``marker``: what a crafted model.joblib could do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def write_crafted_student(directory: Path, marker: Path) -> Path:
    """A crf student folder of format version 1 whose model.joblib runs code when unpickled."""
    directory.mkdir(parents=True)
    joblib.dump({"crf": _Payload(marker), "intent": None}, directory / "model.joblib")
    (directory / "student.json").write_text(json.dumps({"kind": "crf", "format_version": 1, "files": ["model.joblib"]}))
    return directory


def write_legacy_student(directory: Path, train: list[Utterance], intent_model: str = "svm") -> CrfStudent:
    """A genuine format-1 folder, as the tvd before the safe format saved it (the fitted CRF and pipeline pickled);
    returns an unsaved student of the same parameters (to read the pipeline it would fit)."""
    import sklearn_crfsuite

    student = CrfStudent(intent_model=intent_model, max_iterations=30)
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=30, all_possible_transitions=True)
    sequences = [u.to_bio() for u in train]
    crf.fit([sentence_features(tokens) for tokens, _ in sequences], [tags for _, tags in sequences])
    pipeline = student._make_intent_pipeline().fit([u.text for u in train], [u.intent for u in train])
    directory.mkdir(parents=True)
    joblib.dump({"crf": crf, "intent": pipeline}, directory / "model.joblib", compress=3)
    metadata = {"kind": "crf", "format_version": 1, "params": student.params, "files": ["model.joblib"]}
    (directory / "student.json").write_text(json.dumps(metadata))
    student._pipeline, student._crf_reference = pipeline, crf  # type: ignore[attr-defined]
    return student


def test_a_crafted_pickle_is_not_unpickled_without_trust(tmp_path) -> None:
    marker = tmp_path / "pwned"
    directory = write_crafted_student(tmp_path / "crafted", marker)
    for load in (load_student, CrfStudent.load):
        with pytest.raises(TvdError) as info:
            load(directory)
        assert info.value.code == "E408" and "pickle" in info.value.message
        assert "--trust-pickle" in (info.value.fix or "")
    assert not marker.exists()
    # the payload is real: with trust it runs (which is why trust is the caller's explicit choice)
    with pytest.raises(TvdError):
        load_student(directory, trust_pickle=True)
    assert marker.exists()


def test_a_trusted_format_1_folder_loads_as_before_and_upgrades(tmp_path) -> None:
    train, test = dataset()
    legacy = tmp_path / "legacy"
    reference = write_legacy_student(legacy, train, "logreg")
    old = load_student(legacy, trust_pickle=True)
    texts = [u.text for u in test]
    predicted = old.predict(texts)
    crf = reference._crf_reference  # type: ignore[attr-defined]
    assert [p.intent for p in predicted] == list(reference._pipeline.predict(texts))
    expected_tags = crf.predict([sentence_features(t.split()) for t in texts])
    assert [p.spans for p in predicted] == [
        tuple(spans_from_tags(Utterance(t).token_offsets(), list(tags), strict=False))
        for t, tags in zip(texts, expected_tags, strict=True)
    ]
    upgraded = CrfStudent.upgrade(legacy, tmp_path / "new", trust_pickle=True)
    assert not (upgraded / "model.joblib").exists() and (legacy / "model.joblib").exists()
    assert _predictions(load_student(upgraded), texts) == _predictions(old, texts)
    CrfStudent.upgrade(legacy, trust_pickle=True)  # in place: the pickle goes
    assert not (legacy / "model.joblib").exists()
    assert _predictions(load_student(legacy), texts) == _predictions(old, texts)


def test_fit_rejects_empty_data_and_slots_off_token_boundaries() -> None:
    with pytest.raises(TvdError) as info:
        make_student("crf").fit([])
    assert info.value.code == "E405"
    off = Utterance("play adele", "PlayMusic", (Span(6, 10, "artist"),), tokens=((0, 4), (5, 10)))
    with pytest.raises(TvdError) as info:
        make_student("crf").fit([off])
    assert info.value.code == "E405" and "utterance 0" in info.value.message


def test_oversampling_repeats_rare_intents_for_the_crf() -> None:
    train, _ = dataset()
    rare = [u for u in train if u.intent == "PlayMusic"][:3]
    common = [u for u in train if u.intent == "GetWeather"]
    student = make_student("crf", oversample=5, rare_intent_threshold=10, max_iterations=5).fit(common + rare)
    assert student.training_info_["intent_counts"] == {"GetWeather": len(common), "PlayMusic": 3}
    assert student.training_info_["crf_sequences"] == len(common) + 3 * 5


def test_predicted_tags_are_read_as_conlleval() -> None:
    offsets = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    # I-x after O starts a chunk; I-y after B-x starts a y chunk; a junk tag reads as O.
    spans = spans_from_tags(offsets, strict=False, tags=["O", "I-x", "I-x", "I-y", "junk"])
    assert spans == [Span(2, 5, "x"), Span(6, 7, "y")]


def test_features_are_script_neutral() -> None:
    assert word_shape("Paris") == "Xx" and word_shape("10:30pm") == "d:dx"
    assert word_shape("東京") == "H" and word_shape("カタカナ") == "k"
    features = sentence_features(["play", "Adele"])
    assert features[1]["w"] == "adele" and features[1]["w[-1]"] == "play" and "title" in features[1]
    assert features[0]["BOS"] == 1.0 and features[1]["EOS"] == 1.0


def test_student_is_the_abstract_interface() -> None:
    with pytest.raises(TypeError):
        Student()  # type: ignore[abstract]


def _ja(parts: list[tuple[str, str | None]], intent: str) -> Utterance:
    """Japanese text from (piece, slot label or None) parts, one source token per piece."""
    text, tokens, spans = "", [], []
    for piece, label in parts:
        tokens.append((len(text), len(text) + len(piece)))
        if label:
            spans.append(Span(len(text), len(text) + len(piece), label))
        text += piece
    return Utterance(text, intent, tuple(spans), "ja", tuple(tokens))


def test_unsegmented_script_with_source_tokens() -> None:
    cities, artists = ["東京", "大阪", "京都", "札幌", "名古屋", "神戸"], ["嵐", "宇多田ヒカル", "米津玄師", "椎名林檎"]
    train = [_ja([(c, "city"), ("の", None), ("天気", None)], "GetWeather") for c in cities]
    train += [
        _ja([("明日", None), ("の", None), (c, "city"), ("の", None), ("天気", None)], "GetWeather") for c in cities
    ]
    train += [_ja([(a, "artist"), ("を", None), ("再生", None), ("して", None)], "PlayMusic") for a in artists]
    train += [
        _ja([(a, "artist"), ("の", None), ("曲", None), ("を", None), ("かけて", None)], "PlayMusic") for a in artists
    ]
    student = make_student("crf", max_iterations=50).fit(train)
    prediction = student.predict([_ja([("福岡", "city"), ("の", None), ("天気", None)], "?")])[0]
    assert prediction.intent == "GetWeather" and prediction.slots == [("city", "福岡")]
    prediction = student.predict([_ja([("あいみょん", "artist"), ("を", None), ("再生", None), ("して", None)], "?")])[
        0
    ]
    assert prediction.intent == "PlayMusic" and prediction.slots == [("artist", "あいみょん")]


def _ja_untokenised(parts: list[tuple[str, str | None]], intent: str) -> Utterance:
    """Japanese text as a teacher writes it: no spaces, no source tokens (slot spans only)."""
    return _ja(parts, intent).replace(tokens=None)


def test_japanese_without_tokens_is_read_in_character_tokens_in_training_and_on_raw_text(tmp_path) -> None:
    # slots that end inside a script run (東京 in 東京都) and values unseen in training: whitespace tokens
    # would make each sentence one token (no slot could be found), script runs would glue 都 to the city
    cities = ["東京", "大阪", "京都", "札幌", "名古屋", "神戸", "横浜"]
    artists = ["嵐", "米津玄師", "椎名林檎", "星野源", "ゆず", "いきものがかり", "スピッツ"]
    train = [_ja_untokenised([(c, "city"), ("都の天気", None)], "GetWeather") for c in cities[:3]]
    train += [_ja_untokenised([(c, "city"), ("の天気", None)], "GetWeather") for c in cities]
    train += [_ja_untokenised([("明日の", None), (c, "city"), ("の天気", None)], "GetWeather") for c in cities]
    train += [_ja_untokenised([(a, "artist"), ("を再生して", None)], "PlayMusic") for a in artists]
    train += [_ja_untokenised([(a, "artist"), ("の曲をかけて", None)], "PlayMusic") for a in artists]
    student = make_student("crf", max_iterations=50).fit(train)
    [weather, music] = student.predict(["明日の福岡の天気", "あいみょんを再生して"])  # raw strings, language "en"
    assert weather.intent == "GetWeather" and weather.slots == [("city", "福岡")]
    assert music.intent == "PlayMusic" and music.slots == [("artist", "あいみょん")]
    assert weather.tokens is None  # the prediction is the input's utterance: no tokens added
    assert student.predict(["東京都の天気"])[0].slots == [("city", "東京")]
    student.save(tmp_path / "ja")
    loaded = load_student(tmp_path / "ja")
    assert isinstance(loaded, CrfStudent) and loaded.char_ngrams is True
    assert loaded.predict(["明日の福岡の天気"])[0].slots == [("city", "福岡")]


def test_char_ngrams_change_nothing_for_english() -> None:
    train, test = dataset()
    on = make_student("crf", max_iterations=30).fit(train)
    off = make_student("crf", max_iterations=30, char_ngrams=False).fit(train)
    assert on.params["char_ngrams"] is True and off.params["char_ngrams"] is False
    assert on._crf is not None and off._crf is not None and on._crf.data == off._crf.data  # the same model bytes
    assert [(p.intent, p.spans) for p in on.predict(test)] == [(p.intent, p.spans) for p in off.predict(test)]
    assert evaluate(test, on.predict(test)).slot_f1 == evaluate(test, off.predict(test)).slot_f1


def test_japanese_intent_text_is_read_in_script_runs_whatever_its_tokens() -> None:
    tokens = ((0, 1), (1, 2), (3, 4), (5, 6), (6, 7), (8, 10), (11, 12))  # xSID's: 今 / 日, 晴 / れ
    spaced = Utterance("今日 は 晴れ ます か", language="ja", tokens=tokens)
    assert _intent_text(spaced) == _intent_text(spaced.replace(tokens=None)) == "今日 は 晴 れ ます か"
    assert _intent_text(Utterance("play  jazz")) == "play jazz"


# -- slow: a few hundred template utterances through train -> predict -> evaluate -> save -> load -----------

FILLERS = {
    "city": ["paris", "london", "new york", "tokyo", "berlin", "rome", "madrid", "oslo", "lima", "cairo", "seoul"],
    "date": ["tomorrow", "today", "on monday", "next week", "this weekend", "on friday"],
    "artist": ["adele", "the beatles", "miles davis", "nina simone", "queen", "bob marley", "bjork", "abba"],
    "service": ["spotify", "deezer", "youtube", "pandora"],
    "restaurant_type": ["restaurant", "bistro", "pizzeria", "diner"],
    "party_size": ["two", "four", "6", "ten"],
}
TEMPLATES = {
    "GetWeather": [
        "what is the weather in [city] [date]",
        "will it rain in [city] [date]",
        "forecast for [city] [date]",
        "is it going to be cold [date] in [city]",
        "how hot will it be in [city] [date]",
    ],
    "PlayMusic": [
        "play [artist] on [service]",
        "put on some [artist] using [service]",
        "i want to hear [artist] on [service]",
        "play something by [artist]",
        "start [service] and play [artist]",
    ],
    "BookRestaurant": [
        "book a [restaurant_type] for [party_size] in [city]",
        "reserve a table for [party_size] [date]",
        "i need a [restaurant_type] in [city] for [party_size] people [date]",
    ],
}


def generate(intent: str, n: int, rng: random.Random) -> list[Utterance]:
    out = []
    for _ in range(n):
        text = rng.choice(TEMPLATES[intent])
        for slot, values in FILLERS.items():
            text = text.replace(f"[{slot}]", f"[{slot}:{rng.choice(values)}]")
        out.append(mark(text, intent))
    return out


@pytest.mark.slow
def test_few_hundred_utterances_end_to_end(tmp_path) -> None:
    rng = random.Random(0)
    train = generate("GetWeather", 150, rng) + generate("PlayMusic", 150, rng) + generate("BookRestaurant", 8, rng)
    test = list(itertools.chain(*(generate(i, 40, random.Random(1)) for i in TEMPLATES)))
    student = make_student("crf", balance=True).fit(train)
    metrics = evaluate(test, student.predict(test))
    assert metrics.intent_accuracy > 0.95
    assert metrics.slot_f1 > 0.9
    assert metrics.per_intent["BookRestaurant"].recall > 0.8
    loaded = load_student(student.save(tmp_path / "m"))
    assert evaluate(test, loaded.predict(test)) == metrics
