"""200-pair load lab, shared by ``tests/reliability/test_load.py`` and ``bench/load_200_pairs.py``.

- :func:`build_dataset` writes a replay data directory of 200 USD pairs with 5m candles: the
  bundled USD pairs as they are (BTC/ETH/SOL core, tiered pairs on both sides of their floors,
  BONK excluded, a stablecoin) plus seeded clones of their 5m files under synthetic bases
  (``L001``...), prices and volumes rescaled so the universe rules see a realistic spread: 24 h
  USD volumes log-normal around $15M, about one clone in ten under the $3M global floor.
  ``BTC_USD-1h`` comes along for Trader247Strategy's 1h market regime.
- :func:`launch` starts a real ``freqtrade trade --dry-run`` on a replay exchange with our
  plugins (``LoadRun.ours``) or the stock equivalent (``LoadRun.stock``: VolumePairList with the
  same $3M floor and freqtrade's own SampleStrategy template, unmodified but for a
  ``bot_start`` that starts our exporter; neither our pairlist nor our mixin is loaded).
- :class:`IterationSampler` reads exact per-iteration values from ``/metrics``: the start-up
  hook times every ``FreqtradeBot.process`` in both runs (it does not depend on the strategy),
  and a sample is kept only when both histograms' ``_count`` moved by exactly one since the
  last consistent poll, so ``_sum`` deltas are that one iteration's duration and plugin time.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import freqtrade

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "user_data" / "data" / "coinbase"
E2E_STRATEGIES = REPO / "tests" / "e2e" / "strategies"
SAMPLE_TEMPLATE = Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py"
FREQTRADE = [sys.executable, "-m", "freqtrade"]
# freqtrade skips its logging set-up when PYTEST_VERSION is set (pytest exports it to children).
CHILD_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}

PAIRS = 200
TIMEFRAME = "5m"
GLOBAL_FLOOR_USD = 3_000_000  # policy.yaml liquidity.min_24h_volume_usd: clones are in no tier
STABLECOINS = frozenset({"USDT", "USDC", "DAI"})
ITERATION = "trader247_bot_iteration_duration_seconds"
PLUGIN = "trader247_bot_iteration_plugin_seconds"
LAST = "trader247_bot_iteration_last_duration_seconds"
ENDED = "trader247_bot_last_iteration_timestamp_seconds"
CANDLE_SECONDS = 300
HOOK_SECONDS = "trader247_plugin_hook_seconds_total"
USER, PASSWORD = "loadlab", "loadlab-password"

# Freqtrade's SampleStrategy exports nothing: the same exporter as ours is started at bot start
# so the start-up hook's iteration timing is read the same way in both runs. No plugin code runs
# in the loop (the plugin histogram observes 0 every iteration).
STOCK_EXPORTER = '''

    def bot_start(self, **kwargs) -> None:
        # loadlab: export the start-up hook's timing of FreqtradeBot.process, nothing else.
        from trader247.adapters import observability
        from trader247.core.config import PolicyConfig

        observability.runtime_of(self.config).start(self.config, PolicyConfig(), ())
'''


# ---------------------------------------------------------------------- data set


@dataclass(frozen=True)
class Dataset:
    path: Path
    pairs: tuple[str, ...]
    usd_volume_24h: dict[str, float]  # mean daily USD volume of each pair's 5m file

    def below(self, floor: float) -> list[str]:
        return [p for p, usd in self.usd_volume_24h.items() if usd < floor]

    def most_liquid_clones(self, count: int) -> list[str]:
        """Clones far above every floor: in both runs' whitelists, so both hold the same trades."""
        clones = [p for p in self.usd_volume_24h if p.startswith("L")]
        return sorted(clones, key=lambda p: -self.usd_volume_24h[p])[:count]


def _usd_per_day(frame: Any) -> float:
    days = max(len(frame) * 300 / 86400, 1e-9)
    return float((frame["close"] * frame["volume"]).sum() / days)


def build_dataset(out: Path, pairs: int = PAIRS, seed: int = 7,
                  source: Path = BUNDLED) -> Dataset:
    """Write ``pairs`` USD pairs of 5m candles (and BTC 1h) to ``out``; deterministic per seed."""
    import pandas as pd

    real = sorted(p for p in source.glob(f"*_USD-{TIMEFRAME}.feather"))
    if not real or not (source / "BTC_USD-1h.feather").is_file():
        raise FileNotFoundError(f"no bundled 5m/1h candles in {source}: run `make data`")
    if pairs < len(real):
        raise ValueError(f"at least {len(real)} pairs (the bundled USD pairs), got {pairs}")
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    volumes: dict[str, float] = {}
    frames: dict[str, Any] = {}
    for path in real:
        base = path.name.split("_")[0]
        shutil.copyfile(path, out / path.name)
        frames[base] = pd.read_feather(path)
        volumes[f"{base}/USD"] = _usd_per_day(frames[base])
    shutil.copyfile(source / "BTC_USD-1h.feather", out / "BTC_USD-1h.feather")

    templates = [b for b in sorted(frames) if b not in STABLECOINS]
    for i in range(1, pairs - len(real) + 1):
        template = frames[templates[(i - 1) % len(templates)]]
        # Prices from 0.001 to 1000: the replay derives increments and minimums from them.
        price = 10 ** rng.uniform(-3, 3) / float(template["close"].iloc[-1])
        target_usd = math.exp(rng.gauss(math.log(15e6), 1.2))
        clone = template.copy()
        for column in ("open", "high", "low", "close"):
            clone[column] = clone[column] * price
        clone["volume"] = clone["volume"] * (target_usd / _usd_per_day(template) / price)
        base = f"L{i:03d}"
        clone.to_feather(out / f"{base}_USD-{TIMEFRAME}.feather")
        volumes[f"{base}/USD"] = _usd_per_day(clone)
    return Dataset(out, tuple(sorted(volumes)), volumes)


# ---------------------------------------------------------------------- bots


@dataclass(frozen=True)
class LoadRun:
    """One side of the comparison: strategy, its folder and the pairlist."""

    name: str
    strategy: str
    strategy_path: Path | None
    pairlists: list[dict[str, Any]]

    @staticmethod
    def ours(strategy: str = "Trader247Strategy", strategy_path: Path | None = None) -> LoadRun:
        return LoadRun("247trader", strategy, strategy_path,
                       [{"method": "TieredLiquidityPairList", "refresh_period": 300}])

    @staticmethod
    def stock(workdir: Path) -> LoadRun:
        folder = workdir / "stock-strategies"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "SampleStrategy.py").write_text(
            SAMPLE_TEMPLATE.read_text().rstrip() + "\n" + STOCK_EXPORTER)
        return LoadRun("stock", "SampleStrategy", folder,
                       [{"method": "VolumePairList", "number_assets": PAIRS,
                         "sort_key": "quoteVolume", "min_value": GLOBAL_FLOOR_USD,
                         "refresh_period": 300}])


@dataclass
class Bot:
    process: subprocess.Popen[bytes]
    log: Path
    api: str
    metrics: str

    def request(self, method: str, path: str, body: Any = None) -> Any:
        import base64
        import urllib.request

        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(
            f"{self.api}/api/v1/{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def whitelist_size(self) -> int | None:
        found = re.findall(r"Whitelist with (\d+) pairs", self.log.read_text(errors="replace"))
        return int(found[-1]) if found else None


def free_port() -> int:
    from trader247.cli.processes import free_port as free

    return free()


def start_replay(data: Path, log: IO[str]) -> tuple[subprocess.Popen[str], str]:
    from trader247.cli.processes import start_replay as start

    port = free_port()
    return start(data, port, log=log), f"http://127.0.0.1:{port}"


def launch(run: LoadRun, replay_url: str, workdir: Path, *, open_trades: int = 10,
           throttle_s: int = 1, analyze_every_iteration: bool = True) -> Bot:
    """``freqtrade trade --dry-run`` on the 200 pairs, REST API and exporter on free ports."""
    from trader247.cli.demo import exchange_override

    port = int(replay_url.rsplit(":", 1)[1])
    api_port, metrics_port = free_port(), free_port()
    override: dict[str, Any] = exchange_override(port)
    override.update({
        "timeframe": TIMEFRAME,
        "max_open_trades": open_trades,
        "stake_amount": 20,
        "force_entry_enable": True,
        # Every iteration analyses every pair (as on a new candle); freqtrade's default would
        # make all but one iteration per 5 minutes skip the analysis.
        "process_only_new_candles": not analyze_every_iteration,
        "pairlists": run.pairlists,
        "internals": {"process_throttle_secs": throttle_s, "heartbeat_interval": 0},
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1",
                       "listen_port": api_port, "username": USER, "password": PASSWORD,
                       "jwt_secret_key": "loadlab-jwt-secret-0123456789abcdef",
                       "ws_token": "loadlab-ws-token", "CORS_origins": []},
    })
    config = workdir / f"{run.name}.json"
    config.write_text(json.dumps(override))
    log = workdir / f"{run.name}.log"
    command = [*FREQTRADE, "trade", "--dry-run", "-c", str(REPO / "config" / "config.json"),
               "-c", str(config), "--userdir", str(REPO / "user_data"),
               "--strategy", run.strategy, "--db-url",
               f"sqlite:///{workdir / f'{run.name}.sqlite'}", "--logfile", str(log)]
    if run.strategy_path is not None:
        command += ["--strategy-path", str(run.strategy_path)]
    env = {**CHILD_ENV, "TRADER247_METRICS_PORT": str(metrics_port)}
    # The log file has everything once logging is set up; a crash before that lands here.
    output = (workdir / f"{run.name}.out").open("w")
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    output.close()  # the child holds its own descriptor
    return Bot(process, log, f"http://127.0.0.1:{api_port}",
               f"http://127.0.0.1:{metrics_port}/metrics")


def stop(process: subprocess.Popen[Any], grace: float = 15.0) -> None:
    from trader247.cli.processes import stop as stop_process

    stop_process(process, grace=grace)


def scrape(url: str) -> dict[str, float] | None:
    from trader247.metrics.scrape import scrape as get

    try:
        return get(url)
    except OSError:
        return None  # exporter not up yet


def wait_for(predicate: Any, timeout: float, what: str, bot: Bot | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if bot is not None and bot.process.poll() is not None:
            break
        time.sleep(0.25)
    tail = bot.log.read_text(errors="replace")[-3000:] if bot and bot.log.exists() else ""
    raise AssertionError(f"{what}: not within {timeout:.0f}s\n{tail}")


def first_iteration(bot: Bot, timeout: float) -> float:
    """Wait for the first completed iteration; its duration (history download for every pair)."""
    sample = wait_for(lambda: (s := scrape(bot.metrics)) and s.get(f"{ITERATION}_count", 0) >= 1
                      and s, timeout, "first bot iteration", bot)
    if sample[f"{ITERATION}_count"] == 1:
        return float(sample[f"{ITERATION}_sum"])
    return float(sample["trader247_bot_iteration_last_duration_seconds"])


def fill_slots(bot: Bot, pairs: list[str], slots: int, timeout: float = 90.0) -> int:
    """Force-enter until ``slots`` trades are open and filled (natural entries count too)."""
    wanted = iter(pairs)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trades = bot.request("GET", "status")
        if len(trades) >= slots and not any(t["has_open_orders"] for t in trades):
            return len(trades)
        if len(trades) < slots:
            held = {t["pair"] for t in trades}
            pair = next((p for p in wanted if p not in held), None)
            if pair is not None:
                bot.request("POST", "forceenter", {"pair": pair, "stakeamount": 20})
        time.sleep(0.5)
    raise AssertionError(f"{slots} trades not open within {timeout:.0f}s: "
                         f"{bot.request('GET', 'status')}")


# ---------------------------------------------------------------------- measurement


@dataclass
class Iteration:
    seconds: float
    plugin_seconds: float
    hooks: dict[str, float]
    new_candle: bool  # the first iteration started in a new 5m candle: download + analysis


@dataclass
class IterationSampler:
    """Polls ``/metrics`` faster than iterations end and keeps exact single-iteration deltas."""

    url: str
    interval: float = 0.2
    iterations: list[Iteration] = field(default_factory=list)
    skipped: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait(self, count: int, timeout: float, process: subprocess.Popen[Any]) -> None:
        deadline = time.monotonic() + timeout
        while len(self.iterations) < count and time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"bot exited with {process.returncode} while measuring")
            time.sleep(0.2)

    def _run(self) -> None:
        base: dict[str, float] | None = None
        while not self._stop.is_set():
            sample = scrape(self.url)
            if sample is not None and f"{PLUGIN}_count" in sample:
                count = sample[f"{ITERATION}_count"]
                # Both histograms are observed one after the other: a poll in between is
                # inconsistent and simply waits for the next one.
                if count == sample[f"{PLUGIN}_count"]:
                    if base is not None and count == base[f"{ITERATION}_count"] + 1:
                        seconds = sample[f"{ITERATION}_sum"] - base[f"{ITERATION}_sum"]
                        # The last-iteration gauges are set right after the histogram.
                        if abs(sample[LAST] - seconds) > 1e-6:
                            self._stop.wait(self.interval)
                            continue
                        self.iterations.append(self._delta(base, sample))
                    elif base is not None and count > base[f"{ITERATION}_count"]:
                        self.skipped += int(count - base[f"{ITERATION}_count"])
                    base = sample
            self._stop.wait(self.interval)

    @staticmethod
    def _delta(before: dict[str, float], after: dict[str, float]) -> Iteration:
        hooks = {}
        for key, value in after.items():
            if key.startswith(HOOK_SECONDS + "{"):
                hook = key.split('hook="', 1)[1].split('"', 1)[0]
                hooks[hook] = value - before.get(key, 0.0)
        seconds = after[f"{ITERATION}_sum"] - before[f"{ITERATION}_sum"]
        started = after[ENDED] - seconds
        previous_start = before[ENDED] - before[LAST]
        new_candle = started // CANDLE_SECONDS > previous_start // CANDLE_SECONDS
        return Iteration(seconds, after[f"{PLUGIN}_sum"] - before[f"{PLUGIN}_sum"], hooks,
                         new_candle)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class RunResult:
    name: str
    whitelist: int | None
    open_trades: int
    first_iteration_s: float
    iterations: list[Iteration]
    skipped: int
    analyze_every_iteration: bool

    @property
    def measured(self) -> list[Iteration]:
        """What the statistics cover: between candles, the new-candle iterations the run
        happened to meet are left out (the other side may have met none) and listed apart."""
        if self.analyze_every_iteration:
            return self.iterations
        return [i for i in self.iterations if not i.new_candle]

    @property
    def new_candle(self) -> list[float]:
        return [i.seconds for i in self.iterations if i.new_candle]

    @property
    def durations(self) -> list[float]:
        return [i.seconds for i in self.measured]

    @property
    def plugin_ms(self) -> list[float]:
        return [i.plugin_seconds * 1000 for i in self.measured]

    @property
    def shares(self) -> list[float]:
        return [i.plugin_seconds / i.seconds for i in self.measured if i.seconds > 0]

    def hook_ms_per_iteration(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for it in self.measured:
            for hook, seconds in it.hooks.items():
                totals[hook] = totals.get(hook, 0.0) + seconds
        n = max(len(self.measured), 1)
        return {h: s * 1000 / n for h, s in sorted(totals.items()) if s > 0}


def measure(run: LoadRun, replay_url: str, workdir: Path, *, iterations: int,
            open_trades: int, throttle_s: int, analyze_every_iteration: bool,
            entry_pairs: list[str] | None = None, startup_timeout: float = 300.0) -> RunResult:
    """One bot: first iteration, fill ``open_trades`` slots, then ``iterations`` exact samples."""
    workdir.mkdir(parents=True, exist_ok=True)
    bot = launch(run, replay_url, workdir, open_trades=open_trades, throttle_s=throttle_s,
                 analyze_every_iteration=analyze_every_iteration)
    try:
        first = first_iteration(bot, startup_timeout)
        wait_for(bot.whitelist_size, 30, "whitelist", bot)
        whitelist = bot.request("GET", "whitelist")["whitelist"]
        pairs = [p for p in entry_pairs or whitelist if p in whitelist]
        held = fill_slots(bot, pairs, open_trades) if open_trades else 0
        sampler = IterationSampler(bot.metrics)
        sampler.start()
        try:
            sampler.wait(iterations, timeout=iterations * (throttle_s + 30) + 60,
                         process=bot.process)
        finally:
            sampler.stop()
        if len(sampler.iterations) < iterations:
            raise AssertionError(f"{run.name}: {len(sampler.iterations)} of {iterations} "
                                 "iterations measured")
        return RunResult(run.name, bot.whitelist_size(), held, first,
                         sampler.iterations[:iterations], sampler.skipped,
                         analyze_every_iteration)
    finally:
        if bot.process.poll() is None:
            bot.process.send_signal(signal.SIGTERM)
        stop(bot.process)


def summary(ours: RunResult, stock: RunResult, *, analyze_every_iteration: bool) -> list[str]:
    """The comparison as Markdown lines (bench output and the soak report)."""
    def row(r: RunResult) -> str:
        d = r.durations
        return (f"| {r.name} | {r.whitelist} | {r.open_trades} | {len(d)} | "
                f"{r.first_iteration_s:.2f} | {statistics.median(d):.3f} | "
                f"{percentile(d, 0.95):.3f} | {max(d):.3f} |")

    p50 = statistics.median(ours.durations) / statistics.median(stock.durations)
    p95 = percentile(ours.durations, 0.95) / percentile(stock.durations, 0.95)
    plugin = ours.plugin_ms
    if analyze_every_iteration:
        mode = ("candle iterations: every iteration analyses every pair, as on a new 5m candle "
                "(process_only_new_candles: false)")
        goal = "seed's budget: iteration < 20 s"
    else:
        mode = ("iterations between candles (freqtrade's default process_only_new_candles: "
                "true; one iteration in 300 at 1 s throttle analyses on a new candle)")
        goal = "goal: ours p95 < 2 s"
    return [
        f"200-pair load, {TIMEFRAME}, dry-run on the replay exchange; {mode}",
        "",
        "| run | whitelist | open trades | iterations | first iteration s | p50 s | p95 s "
        "| max s |",
        "|---|---|---|---|---|---|---|---|",
        row(ours),
        row(stock),
        "",
        f"ratio ours / stock: p50 {p50:.2f}x, p95 {p95:.2f}x ({goal})",
        *(f"{r.name}: new-candle iterations met (not in the table): "
          + ", ".join(f"{x:.2f} s" for x in r.new_candle)
          for r in (ours, stock) if r.new_candle and not analyze_every_iteration),
        f"our hooks per iteration: median {statistics.median(plugin):.2f} ms, "
        f"p95 {percentile(plugin, 0.95):.2f} ms, share of the iteration median "
        f"{statistics.median(ours.shares) * 100:.2f} % (goal: median < 5 ms)",
        "per hook, ms per iteration: " + ", ".join(
            f"{h} {ms:.2f}" for h, ms in ours.hook_ms_per_iteration().items()),
    ]


def goals_met(ours: RunResult, *, analyze_every_iteration: bool) -> bool:
    """Issue [F]: p95 < 2 s between candles (the seed's 20 s on candle iterations), our hooks'
    median < 5 ms."""
    budget = 20.0 if analyze_every_iteration else 2.0
    return (percentile(ours.durations, 0.95) < budget
            and statistics.median(ours.plugin_ms) < 5.0)
