"""Frugality accounting with the real EcoLogits tables, offline, no mocks."""

from __future__ import annotations

import json
from datetime import date

import pytest

from assistant.impact import DailyUsage, Impact, estimate

SMALL = "mistral-small-latest"  # registered in EcoLogits for mistralai (no bare "mistral-small")
RANGED = "mistral-medium-latest"  # architecture unpublished: EcoLogits gives an interval


def test_reference_figure_500_tokens_in_5_seconds() -> None:
    # Published order of magnitude for mistral-small: ≈ 1.2e-4 kWh and 8.2e-6 kgCO2eq.
    impact = estimate(SMALL, prompt_tokens=800, completion_tokens=500, latency_s=5.0, zone="FRA")
    assert impact.energy_kwh is not None and impact.gwp_kgco2eq is not None
    assert 1.2e-4 / 2 <= impact.energy_kwh <= 1.2e-4 * 2
    assert 8.2e-6 / 2 <= impact.gwp_kgco2eq <= 8.2e-6 * 2
    assert impact.zone == "FRA"
    assert impact.warnings == []


def test_default_zone_is_the_provider_datacenter() -> None:
    impact = estimate(SMALL, prompt_tokens=0, completion_tokens=500, latency_s=5.0)
    assert impact.zone == "SWE"
    assert impact.gwp_kgco2eq is not None
    assert 8.2e-6 / 2 <= impact.gwp_kgco2eq <= 8.2e-6 * 2


def test_ranges_are_ordered_around_the_point_value() -> None:
    impact = estimate(RANGED, prompt_tokens=100, completion_tokens=400, latency_s=6.0)
    assert impact.energy_kwh_range is not None and impact.gwp_kgco2eq_range is not None
    assert impact.energy_kwh is not None and impact.gwp_kgco2eq is not None
    lo, hi = impact.energy_kwh_range
    assert lo <= impact.energy_kwh <= hi and lo < hi
    lo, hi = impact.gwp_kgco2eq_range
    assert lo <= impact.gwp_kgco2eq <= hi and lo < hi
    assert any("architecture" in w for w in impact.warnings)


def test_single_value_has_no_range() -> None:
    impact = estimate(SMALL, prompt_tokens=10, completion_tokens=100, latency_s=1.0)
    assert impact.energy_kwh is not None
    assert impact.energy_kwh_range is None and impact.gwp_kgco2eq_range is None


def test_more_tokens_cost_more_energy() -> None:
    def energy(tokens: int) -> float:
        e = estimate(SMALL, prompt_tokens=0, completion_tokens=tokens, latency_s=tokens / 100)
        assert e.energy_kwh is not None
        return e.energy_kwh

    assert energy(100) < energy(500) < energy(2000)


def test_zero_completion_tokens_is_zero_impact() -> None:
    impact = estimate(SMALL, prompt_tokens=300, completion_tokens=0, latency_s=0.0)
    assert impact.energy_kwh == pytest.approx(0.0, abs=1e-12)
    assert impact.gwp_kgco2eq == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("model", ["my-vllm-model", "mistral-small"])
def test_unknown_model_gives_no_figures_and_a_french_warning(model: str) -> None:
    impact = estimate(model, prompt_tokens=50, completion_tokens=200, latency_s=2.0)
    assert impact.energy_kwh is None and impact.gwp_kgco2eq is None
    assert impact.energy_kwh_range is None and impact.gwp_kgco2eq_range is None
    assert not impact.known
    assert len(impact.warnings) == 1
    assert f"« {model} » est inconnu d'EcoLogits" in impact.warnings[0]


def test_unknown_zone_gives_no_figures_and_a_french_warning() -> None:
    impact = estimate(SMALL, prompt_tokens=0, completion_tokens=200, latency_s=2.0, zone="XXX")
    assert impact.energy_kwh is None
    assert "zone de mix électrique « XXX » est inconnue" in impact.warnings[0]


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        estimate(SMALL, prompt_tokens=0, completion_tokens=-1, latency_s=1.0)


def test_impact_as_dict_is_json_ready() -> None:
    ranged = estimate(RANGED, prompt_tokens=1, completion_tokens=300, latency_s=3.21987).as_dict()
    unknown = estimate("my-vllm-model", prompt_tokens=1, completion_tokens=300, latency_s=3.0)
    for d in (ranged, unknown.as_dict()):
        assert json.loads(json.dumps(d)) == d
    assert unknown.as_dict()["energy_kwh"] is None
    assert ranged["latency_s"] == 3.22
    assert ranged["energy_kwh"] == float(f"{ranged['energy_kwh']:.3g}")
    assert isinstance(ranged["energy_kwh_range"], list) and len(ranged["energy_kwh_range"]) == 2


def _impact(energy: float | None = 1e-4, gwp: float | None = 1e-5) -> Impact:
    return Impact(
        model=SMALL,
        prompt_tokens=10,
        completion_tokens=20,
        latency_s=0.5,
        energy_kwh=energy,
        gwp_kgco2eq=gwp,
        energy_kwh_range=None,
        gwp_kgco2eq_range=None,
        zone="SWE",
    )


DAY = date(2025, 3, 14)


def _add(usage: DailyUsage, impact: Impact) -> DailyUsage:
    return usage.plus(
        prompt_tokens=impact.prompt_tokens,
        completion_tokens=impact.completion_tokens,
        energy_kwh=impact.energy_kwh,
        gwp_kgco2eq=impact.gwp_kgco2eq,
        latency_s=impact.latency_s,
    )


def test_daily_usage_sums_answers() -> None:
    usage = _add(_add(DailyUsage(day=DAY), _impact()), _impact(energy=3e-4, gwp=2e-5))
    assert usage.answers == 2
    assert usage.prompt_tokens == 20 and usage.completion_tokens == 40
    assert usage.energy_kwh == pytest.approx(4e-4)
    assert usage.gwp_kgco2eq == pytest.approx(3e-5)
    assert usage.latency_s_total == pytest.approx(1.0)
    assert usage.unknown_impact_answers == 0


def test_daily_usage_counts_unknown_impact_answers() -> None:
    usage = DailyUsage(day=DAY)
    usage = _add(
        usage, estimate("my-vllm-model", prompt_tokens=5, completion_tokens=7, latency_s=1)
    )
    usage = _add(usage, estimate(SMALL, prompt_tokens=5, completion_tokens=500, latency_s=5.0))
    assert usage.answers == 2 and usage.unknown_impact_answers == 1
    assert usage.completion_tokens == 507
    assert 6e-5 <= usage.energy_kwh <= 2.4e-4


def test_daily_usage_as_dict_is_json_ready() -> None:
    usage = _add(
        _add(DailyUsage(day=DAY), _impact(energy=1.23456e-4)), _impact(energy=None, gwp=None)
    )
    d = usage.as_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["day"] == "2025-03-14" and d["energy_kwh"] == 1.23e-4
    assert d["unknown_impact_answers"] == 1
