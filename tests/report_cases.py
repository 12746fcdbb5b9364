"""A small run directory made by the real run job with a scripted teacher, for the report's tests.

:func:`make_run` writes base / seed / test data and a config, then runs :func:`tvd.jobs.run.generate_data` and
:func:`tvd.jobs.run.train_and_compare` with a :class:`~tvd.teachers.scripted.ScriptedTeacher` that fills the
prompt's include block with city names.  One completion in five is malformed (a reject), the four wordings
repeat (so the ``template`` filter removes some), and one wording holds markup (``<b>``, ``&``), which the
report must show as text.
"""

from __future__ import annotations

import re
from pathlib import Path

from factories import bio
from tvd.config import load_config
from tvd.formats import write_dataset
from tvd.jobs.run import generate_data, load_run_data, train_and_compare
from tvd.teachers.scripted import ScriptedTeacher

CITIES = ["dallas", "boston", "austin", "denver", "paris", "rome", "oslo", "lima", "cairo", "kyoto", "quito"]
TEMPLATES = ["what is the weather in {}", "forecast for {} please", "is it <b>sunny</b> & warm in {}", "weather {}"]
MARKUP = "<b>sunny</b> &"


def answer(prompt: str, seed: int) -> str:
    """Fills the include block like a good teacher would; one completion in five is malformed."""
    include = re.search(r"<include> (.*) </include>", prompt)
    k = seed // 1000 + seed % 1000  # request index + sample index
    if k % 5 == 4 or include is None:
        return "weather in [1 broken"
    parts = []
    for number, value in re.findall(r"\[(\d+) ([^\]]+?) \]", include.group(1)):
        parts.append(f"[{number} {CITIES[k % len(CITIES)] if value == '*' else value} ]")
    return TEMPLATES[k % len(TEMPLATES)].format(" ".join(parts))


def write_project(directory: Path, *, filters: str = "[exact, seed, template]", test: bool = True) -> Path:
    """Data and ``config.yaml`` of a toy run (new intent GetWeather) in ``directory``; returns the config path."""
    base = [
        bio("play some jazz", "O O B-genre", "PlayMusic"),
        bio("play music by adele", "O O O B-artist", "PlayMusic"),
        bio("put on rock music", "O O B-genre O", "PlayMusic"),
        bio("play the beatles", "O B-artist I-artist", "PlayMusic"),
        bio("book a table in paris", "O O O O B-city", "BookRestaurant"),
        bio("reserve a restaurant in rome for two", "O O O O B-city O B-party_size_number", "BookRestaurant"),
        bio("book a table for four in oslo", "O O O O B-party_size_number O B-city", "BookRestaurant"),
    ]
    seeds = [
        bio("weather in boston", "O O B-city", "GetWeather"),
        bio("what is the forecast for denver", "O O O O O B-city", "GetWeather"),
        bio("will it snow in austin", "O O O O B-city", "GetWeather"),
    ]
    tests = [
        bio("weather in lima", "O O B-city", "GetWeather"),
        bio("what is the weather in cairo", "O O O O O B-city", "GetWeather"),
        bio("play jazz", "O B-genre", "PlayMusic"),
        bio("play some adele", "O O B-artist", "PlayMusic"),
        bio("book a table in kyoto", "O O O O B-city", "BookRestaurant"),
    ]
    for name, data in (("base", base), ("seed", seeds), ("test", tests)):
        write_dataset(data, directory / f"{name}.jsonl", "jsonl")
    test_line = ", test: test.jsonl" if test else ""
    config = directory / "config.yaml"
    config.write_text(
        f"name: toy\noutput_dir: {directory / 'run'}\n"
        f"data: {{base: base.jsonl, seed: seed.jsonl{test_line}}}\n"
        "generation: {requests: 10, samples_per_request: 2, examples_per_prompt: 2}\n"
        f"filters: {filters}\nvalidation: {{folds: 3}}\n"
    )
    return config


def make_run(directory: Path, *, train: bool = True, **options: object) -> Path:
    """A finished toy run (generation, and with ``train`` students and metrics) under ``directory``; returns the
    run directory."""
    config = load_config(write_project(directory, **options))  # type: ignore[arg-type]
    data = load_run_data(config, log=lambda *_: None)
    quiet = lambda *_: None  # noqa: E731
    generated = generate_data(config, data, teacher=ScriptedTeacher(answer), progress=False, log=quiet)
    if train:
        train_and_compare(config, data, generated, log=quiet)
    return config.run_dir
