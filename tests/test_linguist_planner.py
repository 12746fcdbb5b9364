"""LINGUIST request planner: determinism, shuffled numbering, include blocks, zero-shot, errors."""

from __future__ import annotations

import pytest

from tvd.data.resample import build_catalogue
from tvd.errors import TvdError
from tvd.linguist.planner import PlanSettings, plan_requests
from tvd.linguist.prompt import build_prompt
from tvd.linguist.request import WILDCARD


def test_planner_is_deterministic_and_varies_numbering(weather_seeds):
    settings = PlanSettings(requests=20, examples_per_prompt=3, wildcard_rate=0.5, seed=7)
    catalogue = build_catalogue(weather_seeds)
    first = plan_requests("GetWeather", weather_seeds, settings, catalogue)
    again = plan_requests("GetWeather", weather_seeds, settings, catalogue)
    assert [build_prompt(r) for r in first] == [build_prompt(r) for r in again]
    assert len({r.labels for r in first}) > 1  # shuffled label numbering
    assert all(len(r.examples) == 3 for r in first)
    signatures = {tuple(s.label for s in u.spans) for u in weather_seeds}
    assert all(tuple(s.label for s in r.include) in signatures for r in first)
    values = [s.value for r in first for s in r.include]
    assert WILDCARD in values and any(v != WILDCARD for v in values)
    assert all(v == WILDCARD or v in catalogue[s.label] for r in first for s in r.include for v in [s.value])
    assert plan_requests("GetWeather", weather_seeds, PlanSettings(requests=5, seed=8), catalogue) != first[:5]


def test_planner_zero_shot_fixed_values_and_errors(weather_seeds):
    settings = PlanSettings(requests=10, examples_per_prompt=0, fixed_values={"city": ["dallas"]}, seed=1)
    requests = plan_requests("GetWeather", weather_seeds, settings)
    assert all(r.examples == () for r in requests)
    assert all(s.value == "dallas" for r in requests for s in r.include if s.label == "city")
    with pytest.raises(TvdError, match="E203"):
        plan_requests("GetWeather", weather_seeds, PlanSettings(fixed_values={"airline": ["x"]}))
    with pytest.raises(TvdError, match="E201"):
        plan_requests("GetWeather", weather_seeds, PlanSettings(wildcard_rate=1.5))
