"""Frugality accounting with the real EcoLogits tables, offline, no mocks."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta

import pytest

from assistant.impact import MAX_DAYS, Impact, UsageLedger, estimate

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


def test_ledger_sums_two_answers_on_the_same_day() -> None:
    ledger = UsageLedger()
    ledger.record(_impact(), DAY)
    ledger.record(_impact(energy=3e-4, gwp=2e-5), DAY)
    usage = ledger.day(DAY)
    assert usage.answers == 2
    assert usage.prompt_tokens == 20 and usage.completion_tokens == 40
    assert usage.energy_kwh == pytest.approx(4e-4)
    assert usage.gwp_kgco2eq == pytest.approx(3e-5)
    assert usage.latency_s_total == pytest.approx(1.0)
    assert usage.unknown_impact_answers == 0


def test_ledger_separates_days_and_sorts_them() -> None:
    ledger = UsageLedger()
    ledger.record(_impact(), DAY + timedelta(days=1))
    ledger.record(_impact(), DAY)
    assert [u.day for u in ledger.days()] == [DAY, DAY + timedelta(days=1)]
    assert [u.answers for u in ledger.days()] == [1, 1]
    assert ledger.day(DAY - timedelta(days=1)).answers == 0


def test_ledger_counts_unknown_impact_answers() -> None:
    ledger = UsageLedger()
    ledger.record(estimate("my-vllm-model", prompt_tokens=5, completion_tokens=7, latency_s=1.0))
    ledger.record(estimate(SMALL, prompt_tokens=5, completion_tokens=500, latency_s=5.0))
    (usage,) = ledger.days()
    assert usage.answers == 2 and usage.unknown_impact_answers == 1
    assert usage.completion_tokens == 507
    assert 6e-5 <= usage.energy_kwh <= 2.4e-4


def test_ledger_is_exact_under_concurrent_records() -> None:
    ledger = UsageLedger()
    threads, per_thread = 8, 500
    start = threading.Barrier(threads)

    def work(i: int) -> None:
        start.wait()
        for _ in range(per_thread):
            ledger.record(_impact(energy=None if i % 2 else 1e-4), DAY)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    usage = ledger.day(DAY)
    assert usage.answers == threads * per_thread
    assert usage.prompt_tokens == 10 * threads * per_thread
    assert usage.completion_tokens == 20 * threads * per_thread
    assert usage.unknown_impact_answers == (threads // 2) * per_thread
    assert usage.energy_kwh == pytest.approx(1e-4 * (threads // 2) * per_thread)


def test_ledger_keeps_only_the_last_400_days() -> None:
    ledger = UsageLedger()
    for i in range(MAX_DAYS + 10):
        ledger.record(_impact(), DAY + timedelta(days=i))
    kept = ledger.days()
    assert MAX_DAYS == 400 and len(kept) == 400
    assert kept[0].day == DAY + timedelta(days=10)
    assert ledger.day(DAY).answers == 0
    ledger.record(_impact(), DAY)  # older than every kept day: not kept
    assert len(ledger.days()) == 400 and ledger.day(DAY).answers == 0


def test_daily_usage_as_dict_is_json_ready() -> None:
    ledger = UsageLedger()
    ledger.record(_impact(energy=1.23456e-4), DAY)
    ledger.record(_impact(energy=None, gwp=None), DAY)
    d = ledger.day(DAY).as_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["day"] == "2025-03-14" and d["energy_kwh"] == 1.23e-4
    assert d["unknown_impact_answers"] == 1
