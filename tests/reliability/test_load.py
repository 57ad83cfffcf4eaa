"""Load ([F] item 3): 200 pairs on the replay exchange, 5m, a real dry-run bot.

The short test checks behaviour only: 200 pairs are served, the bot iterates with the eligible
ones, and the plugin time of each iteration is exported, positive and part of the iteration.
Timings are measured by ``bench/load_200_pairs.py``; the soak version runs the same comparison
for longer and writes ``reports/reliability/load.md``.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.loadlab import (
    E2E_STRATEGIES,
    GLOBAL_FLOOR_USD,
    HOOK_SECONDS,
    ITERATION,
    PAIRS,
    PLUGIN,
    Bot,
    Dataset,
    LoadRun,
    build_dataset,
    fill_slots,
    first_iteration,
    goals_met,
    launch,
    measure,
    scrape,
    start_replay,
    stop,
    summary,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Dataset:
    return build_dataset(tmp_path_factory.mktemp("load") / "data", source=data_dir)


@pytest.fixture
def replay_url(dataset: Dataset, tmp_path: Path) -> Iterator[str]:
    process, url = start_replay(dataset.path, (tmp_path / "replay.log").open("w"))
    try:
        yield url
    finally:
        stop(process, grace=5.0)


def consistent_sample(url: str, iterations: int, timeout: float, bot: Bot) -> dict[str, float]:
    """A scrape taken after ``iterations`` iterations, between two iterations (both histograms
    observed the same number of times)."""
    def ready() -> dict[str, float] | None:
        sample = scrape(url)
        if sample is None or sample.get(f"{ITERATION}_count", 0) < iterations:
            return None
        return sample if sample[f"{ITERATION}_count"] == sample[f"{PLUGIN}_count"] else None

    sample: dict[str, float] = wait_for(ready, timeout, f"{iterations} iterations on /metrics",
                                        bot)
    return sample


@pytest.mark.e2e
def test_200_pairs_iterate_and_export_the_plugin_time(
    dataset: Dataset, replay_url: str, tmp_path: Path
) -> None:
    with urllib.request.urlopen(f"{replay_url}/_replay/state", timeout=10) as response:
        state = json.loads(response.read())
    assert len(state["pairs"]) == PAIRS == len(dataset.pairs)

    # The cap alone (no signals, cheap analysis) keeps this short; the pairlist and every cap
    # hook are the production ones.
    run = LoadRun.ours("CapProbeStrategy", E2E_STRATEGIES)
    bot = launch(run, replay_url, tmp_path, open_trades=2, analyze_every_iteration=False)
    try:
        first_iteration(bot, timeout=60)
        whitelist = bot.request("GET", "whitelist")["whitelist"]
        # Clearly thin clones are out, clearly liquid ones in (the walk's 24 h window differs
        # from the files' mean day, hence the factor 2 around the floor).
        thin = {p for p, usd in dataset.usd_volume_24h.items()
                if p.startswith("L") and usd < GLOBAL_FLOOR_USD / 2}
        liquid = {p for p, usd in dataset.usd_volume_24h.items()
                  if p.startswith("L") and usd > GLOBAL_FLOOR_USD * 2}
        assert thin and not thin & set(whitelist)
        assert liquid <= set(whitelist)
        assert {"BTC/USD", "ETH/USD", "SOL/USD"} <= set(whitelist)
        assert "BONK/USD" not in whitelist and "USDT/USD" not in whitelist

        fill_slots(bot, [p for p in whitelist if p.startswith("L")], 2)
        start = consistent_sample(bot.metrics, 1, 30, bot)[f"{ITERATION}_count"]
        after = consistent_sample(bot.metrics, int(start) + 2, 30, bot)
    finally:
        stop(bot.process)

    count = after[f"{ITERATION}_count"]
    assert after["trader247_universe_size"] == len(whitelist)
    assert after[f"{PLUGIN}_count"] == count
    assert 0 < after[f"{PLUGIN}_sum"] < after[f"{ITERATION}_sum"]
    hooks = {k.split('"')[1]: v for k, v in after.items() if k.startswith(HOOK_SECONDS + "{")}
    assert sum(hooks.values()) == pytest.approx(after[f"{PLUGIN}_sum"], rel=1e-6)
    calls = {k.split('"')[1]: v for k, v in after.items()
             if k.startswith("trader247_plugin_hook_calls_total{")}
    # One pairlist refresh and one cap loop per iteration; each open trade is offered a trim.
    assert calls["pairlist"] == calls["bot_loop_start"] == count
    assert calls["adjust_trade_position"] >= 2


@pytest.mark.soak
@pytest.mark.timeout(2400)
def test_200_pair_load_report(dataset: Dataset, replay_url: str, tmp_path: Path) -> None:
    """The bench comparison with more iterations; figures to reports/reliability/load.md."""
    lines: list[str] = []
    for every, iterations in ((False, 120), (True, 10)):
        common = {"iterations": iterations, "open_trades": 10, "throttle_s": 1,
                  "analyze_every_iteration": every,
                  "entry_pairs": dataset.most_liquid_clones(20)}
        ours = measure(LoadRun.ours(), replay_url, tmp_path / f"ours-{every}", **common)
        stock = measure(LoadRun.stock(tmp_path), replay_url, tmp_path / f"stock-{every}",
                        **common)
        lines += summary(ours, stock, analyze_every_iteration=every)
        lines += [f"goals met: {goals_met(ours, analyze_every_iteration=every)}", ""]
        # Behaviour, not speed: every measured iteration of ours spent some time in our hooks,
        # never more than the iteration itself; the stock run has none.
        assert all(0 < i.plugin_seconds < i.seconds for i in ours.iterations)
        assert all(i.plugin_seconds == 0 for i in stock.iterations)
    report = REPO / "reports" / "reliability" / "load.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("# 200-pair load\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
