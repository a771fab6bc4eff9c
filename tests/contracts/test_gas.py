"""Gas: the issue's targets, as ratios against the baselines measured on the same chain, and ceilings on
KudosToken's own receipt gas so that a change which makes kudos dearer fails.

The measurements are those of ``scripts/gas_report.py`` (both use ``scripts/gas.py``); every mint is
measured after a warm-up mint on its contract. Receipt ``gasUsed`` is deterministic on py-evm.
"""

from __future__ import annotations

import pytest

from scripts.gas import (
    AWARD_VS_BARE_MINT,
    AWARD_VS_NAIVE_MINT,
    BATCH_VS_BARE_MINT,
    CEILINGS,
    TARGET_BATCH_SIZE,
    GasReport,
    kudos_figures,
    measure_kudos,
    new_chain,
)


@pytest.fixture(scope="module")
def report(baseline_artifacts) -> GasReport:
    return GasReport.measure(baseline_artifacts)


@pytest.fixture(scope="module")
def kudos_gas():
    """KudosToken alone, which needs no compiler: its ceilings are checked even where Node is missing."""
    return measure_kudos(new_chain())


def test_award_to_a_new_recipient_costs_at_most_110_percent_of_the_bare_mint(report):
    assert report.kudos.mint_new <= AWARD_VS_BARE_MINT * report.bare.mint_new, (
        f"award {report.kudos.mint_new} vs bare mint {report.bare.mint_new}: "
        f"{report.kudos.mint_new / report.bare.mint_new:.3f} > {AWARD_VS_BARE_MINT}"
    )


def test_batch_of_100_costs_per_kudos_at_most_70_percent_of_the_bare_single_mint(report):
    per_kudos = report.kudos.batch_per_kudos[TARGET_BATCH_SIZE]
    assert per_kudos <= BATCH_VS_BARE_MINT * report.bare.mint_new, (
        f"batch of {TARGET_BATCH_SIZE}: {per_kudos} a kudos vs bare mint {report.bare.mint_new}: "
        f"{per_kudos / report.bare.mint_new:.3f} > {BATCH_VS_BARE_MINT}"
    )


def test_award_costs_at_most_60_percent_of_the_naive_uri_storage_mint(report):
    assert report.kudos.mint_new <= AWARD_VS_NAIVE_MINT * report.naive.mint_new, (
        f"award {report.kudos.mint_new} vs naive mint {report.naive.mint_new}: "
        f"{report.kudos.mint_new / report.naive.mint_new:.3f} > {AWARD_VS_NAIVE_MINT}"
    )


def test_report_targets_agree_with_the_assertions(report):
    assert [t.limit for t in report.targets()] == [AWARD_VS_BARE_MINT, BATCH_VS_BARE_MINT, AWARD_VS_NAIVE_MINT]
    assert all(t.met for t in report.targets())


def test_kudos_measured_the_same_with_and_without_baselines(report, kudos_gas):
    """The measurement is deterministic: the same inputs give the same receipts on any chain."""
    assert report.kudos == kudos_gas


@pytest.mark.parametrize("contract", ["kudos", "bare", "naive"])
def test_mints_are_measured_after_the_warm_up(report, contract):
    """The first mint of a contract pays ~17,000 gas more than the next (its counter slot goes from zero), so
    every mint measured comes after it; likewise a new recipient pays for a fresh balance slot."""
    gas = getattr(report, contract)
    assert 15_000 < gas.first_mint - gas.mint_new < 20_000
    assert 15_000 < gas.mint_new - gas.mint_existing < 20_000


@pytest.mark.parametrize("name", sorted(CEILINGS))
def test_kudos_gas_ceiling(kudos_gas, name):
    measured = kudos_figures(kudos_gas)[name]
    assert measured <= CEILINGS[name], f"{name}: {measured} gas > ceiling {CEILINGS[name]}"


def test_every_figure_has_a_ceiling(kudos_gas):
    assert set(kudos_figures(kudos_gas)) == set(CEILINGS)
