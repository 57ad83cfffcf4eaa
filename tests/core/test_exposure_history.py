"""Exposure rebuilt from fills: the bot's measure, marks and evaluation times; freqtrade's wallet.

Times are the bot's evaluations (each candle's open); at ``TIMES[i]`` the fills before it count
and positions are marked at the close of candle ``i - 1`` (the newest one closed).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.exposure_history import Fill, exposure_history
from trader247.core.marks import CloseSeries

HOUR = 3_600_000
TIMES = np.arange(HOUR, 11 * HOUR, HOUR, dtype=np.int64)  # evaluations at 01:00 .. 10:00
POLICY = shipped_cap_policy()


def closes(prices: list[float], pair: str = "BTC/USD") -> dict[str, CloseSeries]:
    """Candle k opens at k hours; its close marks the evaluation at k + 1 hours."""
    return {pair: CloseSeries.of(np.arange(len(prices)) * HOUR, prices, 3600)}


def buy(hour: int, amount: float, price: float, fee: float = 0.0) -> Fill:
    return Fill("BTC/USD", hour * HOUR, "buy", amount, price, fee)


def sell(hour: int, amount: float, price: float, fee: float = 0.0, tag: str = "trim") -> Fill:
    return Fill("BTC/USD", hour * HOUR, "sell", amount, price, fee, tag)


def test_at_the_cap_is_not_reducing_one_cent_over_is() -> None:
    # Bought in the 01:00 candle: held from the 02:00 evaluation on.
    at_cap = exposure_history([buy(1, 2.5, 100.0)], closes([100.0] * 11), TIMES, 1000.0, POLICY)
    assert at_cap.at_risk[0] == 0.0 and at_cap.max_at_risk_pct == pytest.approx(25.0)
    assert at_cap.candles_above_cap == 0 and at_cap.reducing_episodes == 0
    prices = [100.0] * 11
    prices[8] = 100.0001  # candle 08:00 closes one cent-fraction higher: seen at 09:00
    over = exposure_history([buy(1, 2.5, 100.0)], closes(prices), TIMES, 1000.0, POLICY)
    assert over.reducing_episodes == 1
    assert over.reducing.tolist() == [False] * 8 + [True, True]


def test_a_candle_is_seen_only_once_it_has_closed() -> None:
    prices = [100.0] * 11
    prices[5] = 200.0  # the 05:00 candle closes at 200
    history = exposure_history([buy(1, 2.0, 100.0)], closes(prices), TIMES, 1000.0, POLICY)
    values = (history.at_risk / 2.0).tolist()
    assert values[4] == 100.0  # 05:00: that candle is still open
    assert values[5] == 200.0  # 06:00: it has closed


def test_entry_fees_are_charged_when_sold_as_in_freqtrades_wallet() -> None:
    fills = [buy(1, 3.0, 100.0, fee=0.01), sell(4, 1.0, 110.0, fee=0.01)]
    history = exposure_history(fills, closes([100.0] * 11), TIMES, 1000.0, POLICY)
    # 02:00: $300 paid, the $3 entry fee not yet charged (freqtrade's stake balance).
    assert history.equity[1] == pytest.approx(1000.0 - 300.0 + 300.0)
    # 05:00: one unit sold at 110 less 1 %, and a third of the entry fee.
    assert history.equity[4] == pytest.approx(700.0 + 110.0 * 0.99 - 1.0 + 200.0)
    assert history.at_risk[4] == pytest.approx(200.0)
    assert history.trims == 1 and history.trims_at.tolist() == [0, 0, 0, 1] + [0] * 6


@pytest.mark.parametrize(("gap", "thrash"), [(6, 1), (7, 0)])
def test_thrash_is_a_new_episode_within_two_intervals(gap: int, thrash: int) -> None:
    # 1.8 units bought at 00:00: 22.5 % at $100 (under target), 27.4 % at $130 (over the cap).
    prices = [100.0] * 12
    prices[0] = 130.0       # seen at 01:00: REDUCING
    prices[1 + gap] = 130.0  # seen `gap` evaluations after it left at 02:00
    history = exposure_history([buy(0, 1.8, 100.0)], closes(prices), TIMES, 800.0, POLICY)
    assert history.reducing_episodes == 2
    assert history.thrash_episodes == thrash


def test_marks_across_a_gap_or_after_delisting_are_counted() -> None:
    gappy = {"BTC/USD": CloseSeries.of(np.array([0, 1, 2, 4, 5]) * HOUR, [100.0] * 5, 3600)}
    history = exposure_history([buy(1, 1.0, 100.0)], gappy, TIMES, 1000.0, POLICY)
    # Held from 02:00. The 03:00 candle is missing: the 04:00 mark is the 02:00 candle's close.
    # The last candle (05:00) closed at 06:00: 07:00 .. 10:00 are marked at it too.
    assert history.stale_marks == 1 + 4
    assert history.stale_pairs == ("BTC/USD",)
    assert np.isfinite(history.at_risk_pct).all()


def test_cluster_at_risk_per_candle_against_its_cap() -> None:
    """[M]: the report shows each capped cluster, measured as the bot measures it."""
    from trader247.core.clusters import ClusterLimits

    limits = ClusterLimits.from_definitions({"L1": ["BTC"], "MEME": ["DOGE"]}, {"L1": 10.0}, None)
    policy = shipped_cap_policy(cluster_limits=limits)
    prices = [100.0] * 11
    prices[5] = 100.0004  # the 05:00 candle closes higher: BTC one cent-fraction over at 06:00
    history = exposure_history([buy(1, 1.0, 100.0)], closes(prices), TIMES, 1000.0, policy)
    assert set(history.cluster_pct) == {"cluster=L1"} and history.cluster_caps == {"cluster=L1": 10.0}
    l1 = history.cluster_pct["cluster=L1"]
    assert l1[0] == 0.0 and l1[1] == pytest.approx(10.0)
    assert history.cluster_candles_above_cap("cluster=L1") == 1  # only the 06:00 evaluation
    assert shipped_cap_policy().cluster_limits.enabled is False
    assert exposure_history([buy(1, 1.0, 100.0)], closes(prices), TIMES, 1000.0,
                            shipped_cap_policy()).cluster_pct == {}


def test_report_summary_and_csv_have_a_line_and_a_column_per_cluster(tmp_path) -> None:
    """``trader247 exposure-report`` output with a cluster cap ([M])."""
    import pandas as pd

    from trader247.cli.exposure_report import summary, write_outputs
    from trader247.core.clusters import ClusterLimits

    policy = shipped_cap_policy(cluster_limits=ClusterLimits.from_definitions({"L1": ["BTC"]}, {"L1": 9.0},
                                                                     None))
    history = exposure_history([buy(1, 1.0, 100.0)], closes([100.0] * 11), TIMES, 1000.0, policy)
    assert summary(history, 60).splitlines()[-1] == (
        "cluster=L1: max at-risk 10.00% (cap 9.0%), 9 candles above cap")
    csv, _ = write_outputs(history, tmp_path)
    frame = pd.read_csv(csv)
    assert frame["at_risk_pct[cluster=L1]"].tolist() == pytest.approx(
        history.cluster_pct["cluster=L1"].tolist())


def test_report_needs_universe_yaml_only_for_cluster_caps(tmp_path) -> None:
    """Bad input: a cluster cap with no universe.yaml to define its cluster names the file."""
    from pathlib import Path

    from trader247.cli.exposure_report import history_for
    from trader247.configfiles import ConfigFileError

    shipped_policy = Path(__file__).resolve().parents[2] / "config" / "policy.yaml"
    policy = tmp_path / "policy.yaml"
    policy.write_text(shipped_policy.read_text().replace(
        "  max_per_cluster_pct: {}\n", "  max_per_cluster_pct: {MEME: 4.0}\n"))
    with pytest.raises(ConfigFileError, match=r"universe\.yaml"):
        history_for({}, tmp_path, policy)


def test_report_logs_a_deprecated_key_once(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    """The policy and universe.yaml are read once each: the old key's warning is logged once."""
    import logging
    from pathlib import Path

    from trader247.cli.exposure_report import history_for

    repo = Path(__file__).resolve().parents[2]
    policy = tmp_path / "policy.yaml"
    policy.write_text((repo / "config" / "policy.yaml").read_text().replace(
        "  max_per_cluster_pct: {}\n", "  max_per_theme_pct: {}\n"))
    (tmp_path / "universe.yaml").write_text((repo / "config" / "universe.yaml").read_text())
    with caplog.at_level(logging.WARNING), contextlib.suppress(Exception):
        history_for({}, tmp_path, policy)  # no backtest result: fails after the files are read
    deprecations = [r for r in caplog.records if "max_per_theme_pct" in r.getMessage()]
    assert len(deprecations) == 1, caplog.text
