"""Generation through the OpenAI backend against a faulty local server, and the CLI's answers to setup
mistakes: every request accounted for, nothing duplicated, retries honour Retry-After, user errors are
one clear message with a non-zero exit and no result files."""

from __future__ import annotations

import json
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from fault_server import FaultServer, write_project
from local_processes import free_port
from tvd.cli.main import main
from tvd.config import load_config
from tvd.engine.cache import CompletionCache
from tvd.engine.dispatch import EngineSettings
from tvd.engine.generate import generate
from tvd.jobs.run import generate_data, load_run_data, plan
from tvd.linguist.task import LinguistTask
from tvd.teachers.base import GenerationParams
from tvd.teachers.openai_http import OpenAITeacher

LINGUIST = LinguistTask()

TRANSIENT = ["429", "429:0.05", "500", "503", "hang", "close", "malformed", "no_choices"]


def _bucket(prompt: str, seed: int | None) -> int:
    return zlib.crc32(f"{prompt}|{seed}".encode()) % 100


def faulty(prompt: str, seed: int | None, attempt: int) -> str | None:
    """About 5% always fail (500), 3% answer empty, 30% fail transiently once or twice, the rest answer."""
    b = _bucket(prompt, seed)
    if b < 5:
        return "500"
    if b < 8:
        return "empty" if attempt == 0 else None
    if b < 38:
        kind = TRANSIENT[b % len(TRANSIENT)]
        if kind == "hang" and b % 3:  # keep hangs (each costs a timeout) rare
            kind = "503"
        return kind if attempt < 1 + b % 2 else None
    return None


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def fault_teacher_block(url: str) -> dict:
    """The teacher block of a run against the fault server at ``url``: concurrent, quick retries, short timeout."""
    return {
        "backend": "openai",
        "options": {"base_url": url, "model": "test-model"},
        "concurrency": 8,
        "max_retries": 3,
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
        "timeout_s": 0.3,
    }


def test_hundreds_of_requests_against_a_faulty_server_are_all_accounted_for(tmp_path):
    with FaultServer(faults=faulty, hang_s=1.0, max_requests=3000, max_seconds=120) as server:
        teacher_block = fault_teacher_block(server.url)
        config_path = write_project(tmp_path, teacher_block, {"requests": 100, "samples_per_request": 3})
        config = load_config(config_path)
        data = load_run_data(config, log=lambda *_: None)
        started = time.perf_counter()
        generated = generate_data(config, data, progress=False, log=lambda *_: None)
        seconds = time.perf_counter() - started
        stats = generated.stats
        run = tmp_path / "run"
        kept, filtered = _lines(run / "generated.jsonl"), _lines(run / "filtered.jsonl")
        rejects, failures = _lines(run / "rejects.jsonl"), _lines(run / "failures.jsonl")

        # every planned completion is in exactly one output, with the right reason
        places = [(r["meta"]["request_id"], r["meta"]["sample"]) for r in kept + filtered]
        places += [(r["request_id"], r["sample"]) for r in rejects + failures]
        assert len(places) == len(set(places)) == stats.planned == 300
        assert stats.samples + sum(stats.failed.values()) == 300
        always_failing = sum(1 for (p, s) in server.counts if _bucket(p, s) < 5)
        assert stats.failed == Counter({"server_error": always_failing}) and always_failing > 0
        assert all(f["reason"] == "server_error" and f["attempts"] == 4 for f in failures)
        assert stats.rejected["empty_output"] == sum(1 for (p, s) in server.counts if 5 <= _bucket(p, s) < 8)
        assert stats.retried > 50 and stats.accepted > 150

        # nothing answered was asked for twice, and exactly the answered completions are cached
        assert max(server.answered.values()) == 1
        assert len(server.answered) == stats.sent == 300 - always_failing
        with CompletionCache(run / "cache.sqlite") as cache:
            assert len(cache) == stats.sent
        assert server.faulted["hang"] > 0 and server.faulted["close"] > 0 and server.faulted["malformed"] > 0
        assert seconds < 30

        # the next run sends only the failed requests (the server now answers them)
        server.reset()
        server.faults = None
        again = generate_data(config, data, progress=False, log=lambda *_: None)
        assert again.stats.sent == always_failing and again.stats.cached == 300 - always_failing
        assert sum(server.counts.values()) == always_failing and _lines(run / "failures.jsonl") == []


def test_retries_honour_retry_after_over_http(tmp_path, weather_seeds):
    def once(prompt: str, seed: int | None, attempt: int) -> str | None:
        return "429:1" if seed == 0 and attempt == 0 else None

    with FaultServer(faults=once, max_seconds=30) as server:
        config = load_config(write_project(tmp_path, {"backend": "openai"}, {"requests": 1, "samples_per_request": 2}))
        requests = plan(config, load_run_data(config, log=lambda *_: None))
        teacher = OpenAITeacher(server.url, "test-model")
        settings = EngineSettings(concurrency=2, backoff_s=0.01)
        started = time.perf_counter()
        with CompletionCache(tmp_path / "c.sqlite") as cache:
            result = generate(
                LINGUIST,
                requests,
                teacher,
                cache,
                samples_per_request=2,
                progress=False,
                settings=settings,
                params=GenerationParams(seed=0),
            )
        elapsed = time.perf_counter() - started
    assert result.stats.retried == 1 and result.stats.sent == 2
    assert 0.95 <= elapsed < 5  # waited the server's second, not the 10 ms backoff
    assert server.counts.most_common(1)[0][1] == 2


# -- setup mistakes through the CLI ------------------------------------------------------------------


def _cli_generate(config_path: Path, *extra: str):
    return CliRunner().invoke(main, ["generate", str(config_path), "--no-progress", *extra])


def _assert_one_clear_error(result, code: str, *phrases: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.output.count(f"[{code}]") == 1 and "Traceback" not in result.output
    assert "fix:" in result.output
    for phrase in phrases:
        assert phrase in result.output


def _assert_no_results(run: Path) -> None:
    for name in ("generated.jsonl", "rejects.jsonl", "filtered.jsonl", "failures.jsonl"):
        assert not (run / name).exists(), name


@pytest.fixture
def key_server():
    with FaultServer(api_key="right-key", max_seconds=60) as server:
        yield server


@pytest.mark.parametrize(
    ("case", "code", "phrase"),
    [
        ("wrong_base_url", "E322", "/v1"),
        ("refused", "E321", "cannot connect"),
        ("bad_key", "E324", "TVD_FAULT_KEY"),
        ("unknown_model", "E323", "gpt-nope"),
        ("missing_key_variable", "E325", "TVD_UNSET_KEY"),
    ],
)
def test_setup_mistakes_give_one_clear_message_and_no_results(tmp_path, key_server, monkeypatch, case, code, phrase):
    monkeypatch.setenv("TVD_FAULT_KEY", "right-key")
    monkeypatch.delenv("TVD_UNSET_KEY", raising=False)
    options = {"base_url": key_server.url, "model": "test-model", "api_key_env": "TVD_FAULT_KEY"}
    if case == "wrong_base_url":
        options["base_url"] = key_server.root
    elif case == "refused":
        options["base_url"] = f"http://127.0.0.1:{free_port()}/v1"
    elif case == "bad_key":
        monkeypatch.setenv("TVD_FAULT_KEY", "sk-wrong-secret-value")
    elif case == "unknown_model":
        options["model"] = "gpt-nope"
    else:
        options["api_key_env"] = "TVD_UNSET_KEY"
    teacher = {"backend": "openai", "options": options, "concurrency": 4, "max_retries": 1, "timeout_s": 2}
    config_path = write_project(tmp_path, teacher, {"requests": 5, "samples_per_request": 2})
    result = _cli_generate(config_path)
    _assert_one_clear_error(result, code, phrase)
    assert "sk-wrong-secret-value" not in result.output and "right-key" not in result.output
    _assert_no_results(tmp_path / "run")


def test_dry_run_sends_nothing_and_budget_stops_resumably(tmp_path):
    with FaultServer(max_seconds=60) as server:
        teacher = {
            "backend": "openai",
            "options": {"base_url": server.url, "model": "test-model"},
            "concurrency": 2,
            "price": {"input_per_million": 100_000.0, "output_per_million": 200_000.0},
        }
        config_path = write_project(tmp_path, teacher, {"requests": 10, "samples_per_request": 2, "max_tokens": 16})
        run = tmp_path / "run"

        dry = _cli_generate(config_path, "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert "20 request(s) to send" in dry.output and "estimated cost: at most $" in dry.output
        assert server.total == 0 and not run.exists()  # nothing sent, nothing written
        estimate = float(dry.output.split("at most $")[1].split()[0].replace(",", ""))

        stopped = _cli_generate(config_path, "--budget", f"{estimate / 2:.4f}")
        assert stopped.exit_code == 0, stopped.output
        assert "stopped at the budget" in stopped.output and "not sent" in stopped.output
        first_sent = server.total
        assert 0 < first_sent < 20

        dry_again = _cli_generate(config_path, "--dry-run")
        assert f"{20 - first_sent} request(s) to send" in dry_again.output and server.total == first_sent

        finished = _cli_generate(config_path)
        assert finished.exit_code == 0, finished.output
        assert "stopped at the budget" not in finished.output and "cost: $" in finished.output
        assert server.total == 20 and max(server.counts.values()) == 1
        stats = _lines(run / "generated.jsonl") + _lines(run / "filtered.jsonl") + _lines(run / "rejects.jsonl")
        assert len(stats) == 20
