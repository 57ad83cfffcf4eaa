"""Per-cluster cap held in a real ``freqtrade backtesting`` run ([M] phase 2).

The user's case: freqtrade's SampleStrategy + the mixin (the README's recipe), stake
"unlimited", with ``risk.max_per_cluster_pct: {MEME: 6.0}`` over ``clusters.definitions: {MEME:
[DOGE, SHIB, PEPE]}``, on the bundled Coinbase candles of Nov 2024 - Feb 2025 (the meme rally of
November, then its decline). Measured on freqtrade's own wallet export, candle by candle: the
MEME at-risk never passes 6 % by more than one trim step of MEME, entries stop at its target,
trims name the cluster, and pairs outside the cluster are not trimmed for it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import freqtrade
import numpy as np
import pytest

from tests.e2e.backtests import OPEN_VS_CLOSE_PCT, CapAudit, run_backtest
from tests.e2e.clusters import write_cluster_files

pytestmark = pytest.mark.e2e
SAMPLE = Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py"
CAPPED_SAMPLE = """
from sample_strategy import SampleStrategy
from trader247.strategy import ExposureCapMixin


class CappedSampleStrategy(ExposureCapMixin, SampleStrategy):
    position_adjustment_enable = True

    @property
    def protections(self):
        return [{"method": "ExposureCap"}]
"""
MEME = ("DOGE", "SHIB", "PEPE")
MEME_CAP = 6.0
CAP, TARGET = 25.0, 23.0
PAIRS = ("BTC/USD", "ETH/USD", "XRP/USD", *(f"{base}/USD" for base in MEME))


def cluster_config(tmp_path: Path, cluster_caps: dict[str, float]) -> Path:
    """config.json, policy.yaml and universe.yaml of the user: the shipped ones, with the
    cluster defined and capped."""
    write_cluster_files(tmp_path / "config", cluster_caps, {"MEME": MEME})
    return tmp_path / "config" / "config.json"


def test_sample_strategy_with_unlimited_stake_holds_a_cluster_cap(
    tmp_path: Path, data_dir: Path
) -> None:
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    shutil.copy(SAMPLE, strategies / "sample_strategy.py")
    (strategies / "CappedSampleStrategy.py").write_text(CAPPED_SAMPLE)
    config = cluster_config(tmp_path, {"MEME": MEME_CAP})
    run = run_backtest(
        tmp_path, strategy="CappedSampleStrategy", strategy_path=strategies,
        timerange="20241101-20250301", data_dir=data_dir, base_config=config,
        config={"stake_amount": "unlimited", "max_open_trades": 6, "timeframe": "1h",
                "minimal_roi": {"0": 100.0}, "pairlists": [{"method": "StaticPairList"}],
                "exchange": {"pair_whitelist": list(PAIRS)}})
    audit = CapAudit.of(run, policy=config.with_name("policy.yaml"))
    history = audit.history
    meme = audit.cluster_pct(MEME)
    step = audit.cluster_step_pct(MEME)

    # The report measures MEME as the bot did: freqtrade's balances at the cap's marks.
    np.testing.assert_allclose(history.cluster_pct["cluster=MEME"], meme, rtol=0, atol=1e-6)
    assert history.cluster_caps == {"cluster=MEME": MEME_CAP}
    # The measure: at every candle, MEME at-risk <= its cap + one trim step of MEME ...
    assert meme.max() > MEME_CAP, "the run must reach the cluster cap to test it"
    assert meme.max() <= MEME_CAP + step + 1e-9, (meme.max(), step)
    # ... also at freqtrade's own rates (a candle's open; the cap marks the previous close).
    assert audit.cluster_pct(MEME, at="wallet").max() <= MEME_CAP + step + OPEN_VS_CLOSE_PCT
    # Trims inside MEME happen while MEME or the total is being trimmed; trims elsewhere only
    # while the total is: the cluster is trimmed inside the cluster only.
    total_reducing = history.reducing
    meme_above_target = meme > MEME_CAP * TARGET / CAP + 1e-9
    trims = run.trim_orders()
    meme_trims = [o for o in trims if o["pair"].split("/")[0] in MEME]
    assert meme_trims, "MEME went over its cap: it must be trimmed"
    for order in trims:
        i = int(np.searchsorted(audit.times_ms, int(order["order_filled_timestamp"]),
                                side="right")) - 1
        inside = order["pair"].split("/")[0] in MEME
        assert total_reducing[i] or (inside and meme_above_target[max(i - 1, 0):i + 1].any()), (
            order["pair"], i)
    assert "CLUSTER_OVER_CAP: cluster=MEME" in run.output
    assert "TRIM_ROUND:" in run.output
    # Entries into MEME stop at its target (6 x 23/25 = 5.52 %): MEME goes over its cap only
    # by price. At each candle where it crosses the cap, the book the previous candle left was
    # at or under the cap at that candle's marks.
    before = audit.cluster_pct(MEME, at="before")
    crossings = [i for i in range(1, len(meme)) if meme[i] > MEME_CAP >= meme[i - 1]]
    assert crossings
    for i in crossings:
        assert before[i] <= MEME_CAP + 1e-9 < meme[i], (i, before[i], meme[i])
    # The total cap still holds: at-risk <= 25 % + one trim step at every candle.
    assert audit.remarked_pct.max() <= CAP + audit.step_pct + 1e-9
    print(f"\nMEME max {meme.max():.3f}% cap {MEME_CAP}% step {step:.3f} points; "
          f"wallet-rate max {audit.cluster_pct(MEME, at='wallet').max():.3f}%; "
          f"trims {len(trims)} (MEME {len(meme_trims)}); candles over MEME cap "
          f"{history.cluster_candles_above_cap('cluster=MEME')}; total max "
          f"{audit.remarked_pct.max():.3f}%; crossings {len(crossings)}, max before-move "
          f"{max(before[i] for i in crossings):.3f}%")


ASSET_CAP = 8.0


def test_sample_strategy_with_unlimited_stake_holds_a_per_asset_cap(
    tmp_path: Path, data_dir: Path
) -> None:
    """``risk.max_per_asset_pct: 8``: every asset (all its pairs) stays under 8 % + one trim
    step of that asset at every candle, and only the asset over its cap is trimmed for it."""
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    shutil.copy(SAMPLE, strategies / "sample_strategy.py")
    (strategies / "CappedSampleStrategy.py").write_text(CAPPED_SAMPLE)
    policy, _ = write_cluster_files(tmp_path / "config", {}, {})
    text = policy.read_text()
    assert "  max_per_asset_pct: null\n" in text
    policy.write_text(text.replace("  max_per_asset_pct: null\n",
                                   f"  max_per_asset_pct: {ASSET_CAP}\n"))
    run = run_backtest(
        tmp_path, strategy="CappedSampleStrategy", strategy_path=strategies,
        timerange="20241101-20250301", data_dir=data_dir,
        base_config=tmp_path / "config" / "config.json",
        config={"stake_amount": "unlimited", "max_open_trades": 6, "timeframe": "1h",
                "minimal_roi": {"0": 100.0}, "pairlists": [{"method": "StaticPairList"}],
                "exchange": {"pair_whitelist": list(PAIRS)}})
    audit = CapAudit.of(run, policy=policy)
    peaks = {}
    for pair in PAIRS:
        asset = (pair.split("/")[0],)
        held = audit.cluster_pct(asset)
        peaks[asset[0]] = held.max()
        assert held.max() <= ASSET_CAP + audit.cluster_step_pct(asset) + 1e-9, (
            asset, held.max(), audit.cluster_step_pct(asset))
    assert max(peaks.values()) > ASSET_CAP, ("the run must reach the asset cap to test it", peaks)
    assert "ASSET_OVER_CAP: asset=" in run.output
    assert audit.remarked_pct.max() <= CAP + audit.step_pct + 1e-9
    print(f"\nasset peaks {({a: round(p, 3) for a, p in peaks.items()})} cap {ASSET_CAP}%")
