"""The LINGUIST job as a library call: data in, results out, nothing written but the cache (and its lock)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from test_jobs_run import _teacher_answer
from tvd.config import GenerationConfig
from tvd.engine.cache import CompletionCache
from tvd.jobs.augment import augment, estimate_augment
from tvd.teachers.scripted import ScriptedTeacher


def test_augment_returns_kept_rejected_and_filtered_and_writes_nothing(tmp_path: Path, weather_seeds, monkeypatch):
    monkeypatch.chdir(tmp_path)
    generation = GenerationConfig(requests=6, samples_per_request=2, examples_per_prompt=2)
    teacher = ScriptedTeacher(_teacher_answer)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        before = estimate_augment("GetWeather", weather_seeds, [], generation, teacher, cache)
        done = augment("GetWeather", weather_seeds, [], generation, teacher, cache, filters=("exact", "seed"))
        after = estimate_augment("GetWeather", weather_seeds, [], generation, teacher, cache)
    assert sorted(os.listdir(tmp_path)) == ["cache.sqlite", "cache.sqlite.lock"]  # the cache and its lock
    assert len(done.requests) == 6 and done.stats.planned == 12 == teacher.calls
    assert done.stats.accepted + len(done.generation.rejects) == 12
    assert len(done.kept) + len(done.filtered.removed) == done.stats.accepted
    assert all(u.intent == "GetWeather" and u.meta["source"] == "linguist" for u in done.kept)
    assert (before.to_send, after.to_send, after.cached) == (12, 0, 12)


def test_fixed_values_are_checked_in_the_seeds_language_only(tmp_path: Path, weather_seeds) -> None:
    """Asked for German from English seeds (without translate-then-generate: the English seeds are the examples),
    the teacher may translate fixed values (no fixed_value_changed)."""
    generation = GenerationConfig(
        requests=4, samples_per_request=1, examples_per_prompt=2, wildcard_rate=0.0, translate=None
    )

    def translating(prompt: str, seed: int) -> str:  # every include value "translated"
        include = re.search(r"<include> (.*) </include>", prompt).group(1)
        return "wetter " + " ".join(f"[{n} übersetzt ]" for n, _ in re.findall(r"\[(\d+) ([^\]]+?) \]", include))

    teacher = ScriptedTeacher(translating)
    german_block = generation.model_copy(update={"language": "de"})
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        english = augment("GetWeather", weather_seeds, [], generation, teacher, cache)
        german = augment("GetWeather", weather_seeds, [], german_block, teacher, cache)
    assert english.stats.rejected.get("fixed_value_changed", 0) > 0
    assert german.stats.accepted == 4


def test_control_samples_pair_accepted_completions_with_their_requests(tmp_path: Path, weather_seeds) -> None:
    from tvd.evaluate.control import control_quality

    generation = GenerationConfig(requests=5, samples_per_request=2, examples_per_prompt=2)
    with CompletionCache(tmp_path / "cache.sqlite") as cache:
        done = augment("GetWeather", weather_seeds, [], generation, ScriptedTeacher(_teacher_answer), cache)
    samples = done.control_samples()
    assert len(samples) == done.stats.accepted > 0
    by_id = {r.request_id: r for r in done.requests}
    for sample, utterance in zip(samples, done.generation.accepted, strict=True):
        assert sample.request is by_id[utterance.meta["request_id"]] and sample.text == utterance.meta["bracketed"]
    assert control_quality(samples)["well_formed"] == 1.0
