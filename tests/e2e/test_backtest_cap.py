"""The cap in backtests sees every candle ([C2]): real ``freqtrade backtesting`` processes.

The first test is built so that frozen marks cannot pass: four positions of $55 (22 % of
$1000, under the 23 % target), then ADA doubles over two days while the others stay flat: at
the peak 26.1 % is at risk, so the cap must trim. A cap that marks ADA at its entry price sees
22 % throughout and never trims (it failed this way before the marks were fixed).

Every run is audited with :class:`tests.e2e.backtests.CapAudit`: the report equals what the run
did, candle by candle; at-risk never passes the cap by more than one trim step; no trim outside
a REDUCING episode.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import freqtrade
import numpy as np
import pytest

from tests.e2e.backtests import CapAudit, run_backtest, write_candles
from tests.e2e.support import STRATEGIES

pytestmark = pytest.mark.e2e
CAP, TARGET = 25.0, 23.0
PAIRS = ("BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD")
SAMPLE = Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py"
# The README's recipe, applied to freqtrade's own SampleStrategy.
CAPPED_SAMPLE = """
from sample_strategy import SampleStrategy
from trader247.strategy import ExposureCapMixin


class CappedSampleStrategy(ExposureCapMixin, SampleStrategy):
    position_adjustment_enable = True

    @property
    def protections(self):
        return [{"method": "ExposureCap"}]
"""


def doubling_data(data_dir: Path) -> None:
    hours = np.arange(12 * 24)
    flat = np.ones(len(hours))
    # 2025-01-04 00:00 (hour 72) -> 2025-01-06 00:00 (hour 120): ADA 1.0 -> 2.0, then flat.
    ada = np.interp(hours, [0, 72, 120, 287], [1.0, 1.0, 2.0, 2.0])
    for pair, prices in zip(PAIRS, (flat * 100.0, flat * 50.0, flat * 20.0, ada), strict=True):
        write_candles(data_dir, pair, "2025-01-01", prices)


def test_a_pair_that_doubles_after_entry_is_trimmed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    doubling_data(data_dir)
    run = run_backtest(
        tmp_path, strategy="EntryProbeStrategy", strategy_path=STRATEGIES,
        timerange="20250102-20250110", data_dir=data_dir,
        config={"stake_amount": 55, "max_open_trades": 4, "timeframe": "1h",
                "pairlists": [{"method": "StaticPairList"}],
                "exchange": {"pair_whitelist": list(PAIRS)}})
    audit = CapAudit.of(run)
    history = audit.history

    assert len(run.result["trades"]) == 4
    trims = run.trim_orders()
    assert trims, "ADA doubled to 26 % at risk: the cap must trim"
    assert {order["pair"] for order in trims} >= {"ADA/USD"}
    assert history.reducing_episodes >= 1 and history.thrash_episodes == 0
    # Before the rally nothing is over the cap and nothing is trimmed.
    rally = np.searchsorted(history.times_ms, np.datetime64("2025-01-04T00:00", "ms").astype(int))
    assert history.max_at_risk_pct > CAP
    assert audit.trims_at[:rally].sum() == 0 and not history.reducing[:rally].any()
    # Trimmed back to the target: ACTIVE again (and stays so while ADA is flat).
    left = np.flatnonzero(history.reducing)[-1] + 1
    assert history.at_risk_pct[left] <= TARGET + 1e-9
    assert not history.reducing[left:].any() and history.at_risk_pct[-1] <= CAP
    audit.assert_cap_held()


def test_a_pair_delisted_while_held_is_marked_at_its_last_close_and_counted(
    tmp_path: Path,
) -> None:
    """Bad input: DOT's candles stop while the position is open (delisted, or a hole in the
    data). The backtest must go on, the cap marks DOT at its last close (logged once as
    MARK_FALLBACK) and the report counts those marks."""
    data_dir = tmp_path / "data"
    doubling_data(data_dir)
    write_candles(data_dir, "DOT/USD", "2025-01-01", [10.0] * 100)  # ends 2025-01-05 03:00
    pairs = [*PAIRS, "DOT/USD"]
    run = run_backtest(
        tmp_path, strategy="EntryProbeStrategy", strategy_path=STRATEGIES,
        timerange="20250102-20250108", data_dir=data_dir,
        config={"stake_amount": 44, "max_open_trades": 5, "timeframe": "1h",
                "pairlists": [{"method": "StaticPairList"}],
                "exchange": {"pair_whitelist": pairs}})
    assert run.output.count("MARK_FALLBACK: pair=DOT/USD") == 1, run.output[-3000:]
    audit = CapAudit.of(run)
    history = audit.history
    assert len(run.result["trades"]) == 5
    # DOT's last candle closed at 04:00 on the 5th: every later evaluation while held counts.
    delisted = np.datetime64("2025-01-05T04:00", "ms").astype(int)
    assert history.stale_pairs == ("DOT/USD",)
    assert history.stale_marks == int((history.times_ms > delisted).sum())
    # The report still equals what the run did (both mark DOT at its last close).
    assert history.reducing.tolist() == audit.run_reducing.tolist()
    assert history.trims_at.tolist() == audit.trims_at.tolist()
    assert run.trim_orders() and history.thrash_episodes == 0


def test_sample_strategy_with_unlimited_stake_holds_the_cap(tmp_path: Path, data_dir: Path) -> None:
    """freqtrade's SampleStrategy + the mixin, stake "unlimited", 4 slots, the real Coinbase
    candles of Nov 2024 - Feb 2025 (the post-election rally, then a decline). ROI exits are off
    (``minimal_roi`` in the config, as users set it) so that positions ride the rally."""
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    shutil.copy(SAMPLE, strategies / "sample_strategy.py")
    (strategies / "CappedSampleStrategy.py").write_text(CAPPED_SAMPLE)
    run = run_backtest(
        tmp_path, strategy="CappedSampleStrategy", strategy_path=strategies,
        timerange="20241101-20250301", data_dir=data_dir,
        config={"stake_amount": "unlimited", "max_open_trades": 4, "timeframe": "1h",
                "minimal_roi": {"0": 100.0}, "pairlists": [{"method": "StaticPairList"}],
                "exchange": {"pair_whitelist": list(PAIRS)}})
    audit = CapAudit.of(run)
    history = audit.history

    assert len(run.result["trades"]) >= 10
    audit.assert_cap_held()
    # The cap is reached, and only by price: at each episode's start the book was at or under
    # the cap at the previous candle's prices (entries stop at the target).
    starts = audit.episode_starts()
    assert starts and history.max_at_risk_pct > CAP
    for i in starts:
        assert audit.before_move_pct[i] <= CAP < audit.remarked_pct[i], i
    # Trims happen in those rallies and nowhere else (a decline trims nothing).
    assert audit.trims_at.sum() >= len(starts)
    assert all(audit.trims_at[i] > 0 for i in starts)
    assert history.thrash_episodes == 0 and history.stale_marks == 0
