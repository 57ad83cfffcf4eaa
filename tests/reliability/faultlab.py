"""Fault-matrix harness: one dry-run bot, the replay exchange, fault rows, evidence, the table.

One ``freqtrade trade --dry-run`` process (the ``ChurnProbeStrategy`` probe, our pairlist and cap)
runs against the replay exchange on 1m candles; fault rows are injected through
``/_replay/faults`` one window after the other, and each row is judged from the bot's own
records: its log, its trades table, its REST whitelist and its ``/metrics`` iteration counter.

Endpoints and how a row reaches only its own endpoint
-----------------------------------------------------
- ``tickers``: the product list (replay endpoint ``products``) fetched by our
  ``TieredLiquidityPairList`` every ``PAIRLIST_REFRESH_S``. ``load_markets`` fetches the same
  URL with the same query, so a tickers row is scheduled between two market reloads (the replay's
  ``currencies`` counter, polled every half second, shows when a reload happens).
- ``markets``: ``load_markets``, run by freqtrade every ``markets_refresh_interval`` (set to
  1 minute). A markets row faults the replay's ``currencies`` endpoint, which nothing but
  ``load_markets`` calls, in a window around the next reload. Malformed JSON is the exception: a
  cut currency list is harmless to ccxt, a cut product list is what empties the markets, so the
  malformed markets row faults ``products`` as well (its window then also holds a ticker refresh,
  whose behaviour the tickers row measures on its own).
- ``candles``: per-pair candle requests of the faulted pairs (the other pairs are the control
  group). Freqtrade asks for candles only after a candle boundary (then for 15 s of grace while
  the just-closed candle is missing), so candle rows start a few seconds before a 1m boundary.
- ``book``: the order book of the faulted pair; freqtrade prices every market order from it and
  dry-run fills walk it.

Measures (all from timestamps of the bot's own records)
-------------------------------------------------------
- survived: the process is alive and its iteration counter
  (``trader247_bot_iteration_duration_seconds_count``) moved between fault start and the end of
  the recovery wait; ``stall`` is the longest time the counter stood still in that span (retry
  back-offs of freqtrade block the whole loop; the table shows for how long).
- entries on bad data: trades opened between fault start and recovery on affected pairs that were
  (a) based on a stale candle: the probe's ``enter_tag`` names the signal candle, stale means
  older than the newest closed candle expected from the wall clock at opening (2 s tolerance for
  an iteration that started before the boundary), any endpoint; (b) for book rows (not latency),
  opened while the faulted book was failing; (c) for tickers/markets rows, on a pair outside the
  whitelist the bot had before the fault.
- proof that the probe would enter: ``entries before`` (all pairs, 20 s before the fault) must be
  > 0; ``refusals`` counts the bot's own refusal lines for affected pairs during the row
  (``Unable to create trade``, ``ENTRY_REFUSED``, ``Outdated history``).
- universe changes: transitions of the REST whitelist sampled every 0.5 s plus freqtrade's
  ``Whitelist with`` lines (it logs the whitelist only when it changes), fault start to
  recovery; BTC/ETH/SOL must be in every sample of the whole run. A sample the REST API did not
  answer proves nothing: unanswered samples are counted (table column), and a row whose window
  has no answered sample fails "core kept" instead of passing it vacuously.
- recovery: seconds from fault end to the first healthy evidence for the endpoint: tickers = a
  universe refresh not marked "kept last good whitelist"; markets = a market reload after the
  fault (replay ``currencies`` request) with the pre-fault whitelist back; candles = an entry on
  every faulted pair based on a fresh candle; book = an entry on the faulted pair. The bound is
  one refresh of that endpoint plus ``SLACK_S``: tickers ``PAIRLIST_REFRESH_S``, markets
  ``markets_refresh_interval``, candles one timeframe (freqtrade stops polling after the grace
  period until the next candle), book ``REENTRY_S`` of the probe (the book is fetched per order).

Config decisions: market orders (a dry-run limit order at the ask that the moving book leaves
behind stays open and blocks the pair's next entry for minutes); ccxt ``timeout`` of 4 s instead
of 10 s so a hung endpoint exhausts freqtrade's five attempts in 20 s, not 50 s (same behaviour,
scaled); a 100k dry-run wallet so fees of a thousand probe round trips do not matter; the cap at
90 % so it never blocks the probe.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.e2e.support import CHILD_ENV, FREQTRADE, PASSWORD, REPO, USER, http, policy_file
from trader247.cli.demo import exchange_override
from trader247.cli.processes import free_port, start_replay, stop
from trader247.metrics.scrape import scrape

PAIRS = ("BTC/USD", "ETH/USD", "SOL/USD", "ADA/USD", "XRP/USD", "DOGE/USD", "AVAX/USD",
         "LINK/USD")
CORE = ("BTC/USD", "ETH/USD", "SOL/USD")
STRATEGIES = Path(__file__).resolve().parent / "strategies"
TIMEFRAME_S = 60
PAIRLIST_REFRESH_S = 10
MARKETS_REFRESH_S = 60
CCXT_TIMEOUT_MS = 4000
REENTRY_S = 5.0  # the probe's re-entry delay (strategies/ChurnProbeStrategy.py)
SLACK_S = 5.0
SAMPLE_S = 0.5
BEFORE_S = 20.0
AFTER_S = 4.0
STALE_TOLERANCE_S = 2.0
TAG_FORMAT = "c%Y%m%dT%H%M"
REPORTS = REPO / "reports" / "reliability"
ITERATIONS = "trader247_bot_iteration_duration_seconds_count"
# A row that ends later than this after its fault without evidence is reported as not recovered.
_LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - (\S+) - (\w+) - (.*)$")


# -- data ----------------------------------------------------------------------------------------
def build_minute_data(source: Path, dest: Path, pairs: Sequence[str] = PAIRS,
                      days: int = 4) -> Path:
    """1m candles from the last ``days`` of the bundled 5m files, each 5m candle's OHLCV kept.

    The five minutes walk open -> first extreme -> middle -> second extreme -> close (low first
    on a rising candle), so re-aggregating gives back the 5m open, high, low, close and volume:
    the replay's 24 h volumes, and thus the universe, are the bundled ones.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for pair in pairs:
        name = pair.replace("/", "_")
        frame = pd.read_feather(source / f"{name}-5m.feather")
        frame = frame[frame["date"] > frame["date"].iloc[-1] - pd.Timedelta(days=days)]
        o, h, low, c, v = (frame[k].to_numpy(dtype=float)
                           for k in ("open", "high", "low", "close", "volume"))
        rising = c >= o
        first = np.where(rising, low, h)
        second = np.where(rising, h, low)
        points = np.stack([o, first, (low + h) / 2, second, (second + c) / 2, c], axis=1)
        opens, closes = points[:, :5].reshape(-1), points[:, 1:].reshape(-1)
        starts = frame["date"].dt.tz_localize(None).to_numpy()[:, None]
        dates = (starts + np.arange(5) * np.timedelta64(60, "s")).reshape(-1)
        pd.DataFrame({
            "date": pd.to_datetime(dates, utc=True), "open": opens,
            "high": np.maximum(opens, closes), "low": np.minimum(opens, closes),
            "close": closes, "volume": np.repeat(v / 5, 5),
        }).to_feather(dest / f"{name}-1m.feather")
    return dest


# -- fault rows ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaultRow:
    """One fault kind on one endpoint for ``duration_s`` (pairs: the faulted pairs, if any).

    Rows with the same ``group`` share one window (their endpoints or pairs must not overlap);
    ``max_hits`` makes a transient fault (the first N matching requests only).
    """

    kind: str
    endpoint: str
    duration_s: float
    pairs: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    max_hits: int | None = None
    group: str | None = None
    label: str | None = None
    # run after every other row: a row known to stop the bot must not spoil the others
    last: bool = False

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        return self.kind if self.max_hits is None else f"{self.kind} x{self.max_hits}"

    @property
    def key(self) -> str:
        pairs = "+".join(p.split("/")[0] for p in self.pairs)
        return f"{self.endpoint}-{self.name}" + (f"-{pairs}" if pairs else "")

    @property
    def anchor(self) -> str | None:
        return {"candles": "boundary", "markets": "reload"}.get(self.endpoint)

    @property
    def recovery_bound_s(self) -> float:
        one_refresh = {"tickers": PAIRLIST_REFRESH_S, "markets": MARKETS_REFRESH_S,
                       "candles": TIMEFRAME_S, "book": REENTRY_S}[self.endpoint]
        return one_refresh + SLACK_S

    @property
    def affected(self) -> tuple[str, ...]:
        return self.pairs or PAIRS

    def faults(self) -> list[dict[str, Any]]:
        """The replay fault specs (without timing) that make up this row."""
        base: dict[str, Any] = {"kind": self.kind, **self.params}
        if self.max_hits is not None:
            base["max_hits"] = self.max_hits
        if self.endpoint == "tickers":
            return [{**base, "endpoint": "products"}]
        if self.endpoint == "markets":
            endpoints = ["currencies"] + (["products"] if self.kind == "malformed_json" else [])
            return [{**base, "endpoint": e} for e in endpoints]
        replay_endpoint = {"candles": "candles", "book": "book"}[self.endpoint]
        return [{**base, "endpoint": replay_endpoint, "pair": p} for p in self.pairs]


@dataclass
class RowResult:
    row: FaultRow
    start: float
    end: float
    settled: float
    recovery_s: float | None
    alive: bool
    stopped: bool  # freqtrade left the RUNNING state (OperationalException)
    iterations: int  # during the fault
    iterations_after: int  # from fault end to recovery (at least AFTER_S)
    stall_s: float
    bad_entries: list[str]
    entries_before: int
    entries_during_other: int
    refusals: int
    universe_changes: int
    core_kept: bool  # BTC/ETH/SOL in every answered sample, and at least one was answered
    tracebacks: list[str]
    # stale_candles rows: entries on a frozen candle whose timestamp looks current (not counted
    # as bad data: neither freqtrade nor the guard can tell, see the module docstring)
    frozen_entries: int | None = None
    whitelist_answered: int = 0  # samples in the window where GET /whitelist answered
    whitelist_unanswered: int = 0

    @property
    def survived(self) -> bool:
        return self.alive and not self.stopped and self.iterations_after > 0

    @property
    def recovered(self) -> bool:
        return self.recovery_s is not None and self.recovery_s <= self.row.recovery_bound_s

    def problems(self) -> list[str]:
        """Why this row fails the matrix (empty: it passes)."""
        found = []
        if not self.survived:
            found.append(f"did not survive (alive={self.alive}, stopped={self.stopped}, "
                         f"iterations after the fault={self.iterations_after})")
        if self.bad_entries:
            found.append(f"{len(self.bad_entries)} entries on bad data: {self.bad_entries[:5]}")
        if self.entries_before == 0:
            found.append("no probe entries before the fault: the zero proves nothing")
        if self.universe_changes:
            found.append(f"{self.universe_changes} universe changes")
        if not self.whitelist_answered:
            found.append(f"the whitelist API never answered ({self.whitelist_unanswered} "
                         "samples): BTC/ETH/SOL kept is unproven")
        elif not self.core_kept:
            found.append("BTC/ETH/SOL left the whitelist")
        if self.tracebacks:
            found.append(f"{len(self.tracebacks)} unexpected tracebacks after: "
                         f"{self.tracebacks[:3]}")
        if not self.recovered:
            found.append(f"no recovery within {self.row.recovery_bound_s:g}s "
                         f"(measured: {self.recovery_s})")
        return found


# -- the bot's records ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LogLine:
    ts: float
    logger: str
    level: str
    message: str


class LogTail:
    """Incremental reader of the bot's log: only lines the measures need are kept."""

    KEEP = re.compile(r"universe: |Whitelist with|Could not load markets|Traceback|"
                      r"ENTRY_REFUSED|Unable to create trade|Outdated history|UNIVERSE_KEPT|User denied|"
                      r"Error: |Giving up|ERROR|CRITICAL|Changing state")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = ""
        self.lines: list[LogLine] = []
        # (time, message) of the log line each traceback belongs to
        self.tracebacks: list[tuple[float, str]] = []
        self._last: LogLine | None = None
        self._lock = threading.Lock()

    def poll(self) -> list[LogLine]:
        with self._lock:
            if not self.path.exists():
                return self.lines
            with self.path.open("r", errors="replace") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
                self._offset = handle.tell()
            text = self._partial + chunk
            rows = text.split("\n")
            self._partial = rows.pop()
            for raw in rows:
                match = _LOG_TS.match(raw)
                if match is None:
                    if raw.startswith("Traceback") and self._last is not None:
                        self.tracebacks.append((self._last.ts, self._last.message))
                    continue
                stamp = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                line = LogLine(stamp, match[2], match[3], match[4])
                self._last = line
                if self.KEEP.search(line.message):
                    self.lines.append(line)
            return self.lines

    def unexpected_tracebacks(self, start: float, end: float) -> list[str]:
        """Tracebacks in the span, except freqtrade's handled ``Could not load markets``."""
        self.poll()
        return [message for ts, message in self.tracebacks
                if start <= ts <= end and "Could not load markets" not in message]

    def between(self, start: float, end: float, pattern: str) -> list[LogLine]:
        regex = re.compile(pattern)
        return [line for line in self.poll()
                if start <= line.ts < end and regex.search(line.message)]


@dataclass(frozen=True)
class TradeRow:
    pair: str
    opened: float
    candle: float | None  # open time of the signal candle (from enter_tag)

    def stale(self) -> bool:
        if self.candle is None:
            return False
        expected = math.floor((self.opened - STALE_TOLERANCE_S) / TIMEFRAME_S - 1) * TIMEFRAME_S
        return self.candle < expected


def read_trades(db: Path) -> list[TradeRow]:
    uri = f"file:{db}?mode=ro"
    for attempt in range(5):
        try:
            with sqlite3.connect(uri, uri=True, timeout=5) as conn:
                rows = conn.execute("SELECT pair, open_date, enter_tag FROM trades").fetchall()
            break
        except sqlite3.OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.2)
    trades = []
    for pair, opened, tag in rows:
        stamp = datetime.fromisoformat(opened).replace(tzinfo=UTC).timestamp()
        candle = None
        if tag and tag.startswith("c"):
            with suppress(ValueError):
                candle = datetime.strptime(tag, TAG_FORMAT).replace(tzinfo=UTC).timestamp()
        trades.append(TradeRow(pair, stamp, candle))
    return trades


@dataclass(frozen=True)
class Sample:
    t: float
    alive: bool
    iterations: float | None
    whitelist: tuple[str, ...] | None
    currencies: int | None
    markets: int | None = None  # USD spot markets the bot holds; sampled for markets rows only


# -- the lab -------------------------------------------------------------------------------------
@dataclass
class Bot:
    process: subprocess.Popen[bytes]
    log: Path
    db: Path
    api: str
    metrics: str


class Lab:
    """A running replay + bot, sampled every ``SAMPLE_S``, that runs fault rows."""

    def __init__(self, replay_url: str, bot: Bot) -> None:
        self.replay_url = replay_url
        self.bot = bot
        self.log = LogTail(bot.log)
        self.samples: list[Sample] = []
        self.reloads: list[float] = []  # times a market (re)load was seen to start
        self.watch_markets = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_loop, daemon=True)

    # sampling
    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _sample_loop(self) -> None:
        last_currencies: int | None = None
        while not self._stop.is_set():
            t = time.time()
            alive = self.bot.process.poll() is None
            iterations = whitelist = currencies = None
            with suppress(Exception):
                iterations = scrape(self.bot.metrics, timeout=2).get(ITERATIONS)
            with suppress(Exception):
                whitelist = tuple(http("GET", f"{self.bot.api}/api/v1/whitelist")["whitelist"])
            with suppress(Exception):
                currencies = int(self.replay_state()["requests"].get("currencies", 0))
            if currencies is not None:
                if last_currencies is not None and currencies > last_currencies:
                    self.reloads.append(t)
                last_currencies = currencies
            markets = self.count_markets() if self.watch_markets else None
            self.samples.append(Sample(t, alive, iterations, whitelist, currencies, markets))
            self._stop.wait(max(0.0, SAMPLE_S - (time.time() - t)))

    def count_markets(self) -> int | None:
        """USD markets the bot's exchange object holds (0: freqtrade says none are loaded)."""
        try:
            answer = http("GET", f"{self.bot.api}/api/v1/markets?quote=USD")
        except urllib.error.HTTPError:
            return 0  # get_markets raises "Markets were not loaded." on an empty market dict
        except Exception:
            return None
        return len(answer.get("markets", {}))

    def replay_state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.replay_url}/_replay/state", timeout=5) as response:
            return dict(json.loads(response.read()))

    def post_faults(self, faults: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            f"{self.replay_url}/_replay/faults", method="POST",
            data=json.dumps({"faults": faults}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def clear_faults(self) -> None:
        request = urllib.request.Request(f"{self.replay_url}/_replay/faults", method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    # readiness
    def wait_ready(self, *, timeout: float = 120.0, entries: int = 4) -> None:
        """Until the whitelist is served and the probe has entered a few times."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.bot.process.poll() is not None:
                raise AssertionError(f"bot exited early:\n{self.tail()}")
            if (self.samples and self.samples[-1].whitelist and self.reloads
                    and len(read_trades(self.bot.db)) >= entries):
                return
            time.sleep(SAMPLE_S)
        raise AssertionError(f"bot not trading after {timeout}s:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        return self.bot.log.read_text(errors="replace")[-chars:] if self.bot.log.exists() else ""

    # scheduling
    def next_reload(self) -> float:
        """When freqtrade's next market reload is due (last reload + interval)."""
        last = self.reloads[-1] if self.reloads else time.time()
        due = last + MARKETS_REFRESH_S
        while due < time.time() + 1:
            due += MARKETS_REFRESH_S
        return due

    def slot_start(self, rows: Sequence[FaultRow], now: float) -> float:
        """Earliest start of a window for these rows from ``now``."""
        duration = max(r.duration_s for r in rows)
        anchors = {r.anchor for r in rows}
        if "boundary" in anchors:
            # active at the boundary with a margin; freqtrade fetches right after it
            boundary = math.ceil((now + 1.5) / TIMEFRAME_S) * TIMEFRAME_S
            return max(now, boundary - 5.0)
        if "reload" in anchors:
            return max(now, self.next_reload() - 3.0)
        if any(r.endpoint == "tickers" for r in rows):
            # the product list also serves load_markets: keep reloads out of a tickers window
            due = self.next_reload()
            if now + duration + 2 > due - 2:
                return due + 4.0
        return now

    def run(self, rows: Sequence[FaultRow]) -> list[RowResult]:
        results = self._run_slots(_slots([r for r in rows if not r.last]))
        results += self._run_slots(_slots([r for r in rows if r.last]))
        order = {row.key: i for i, row in enumerate(rows)}
        return sorted(results, key=lambda result: order[result.row.key])

    def _run_slots(self, slots: list[list[FaultRow]]) -> list[RowResult]:
        results: list[RowResult] = []
        while slots:
            now = time.time()
            starts = [self.slot_start(slot, now) for slot in slots]
            anchored = [i for i, slot in enumerate(slots) if any(r.anchor for r in slot)]
            choice = min(range(len(slots)), key=lambda i: (starts[i], i))
            if anchored:
                first = min(anchored, key=lambda i: (starts[i], i))
                # a free slot goes first only if it is settled before the anchored one starts
                fits = [i for i in range(len(slots)) if i not in anchored
                        and starts[i] + _slot_span(slots[i]) <= starts[first]]
                choice = fits[0] if fits else first
            slot = slots.pop(choice)
            results.extend(self.run_slot(slot, self.slot_start(slot, time.time())))
        return results

    def run_slot(self, rows: Sequence[FaultRow], start_at: float) -> list[RowResult]:
        if start_at > time.time():
            time.sleep(start_at - time.time())
        book_pairs = {p for row in rows if row.endpoint == "book" for p in row.pairs}
        if book_pairs:
            # A position open at fault start cannot be re-entered while its exit fails: wait
            # until the faulted pairs are flat so the bot has to *try* an entry on a bad book.
            boundary = any(r.anchor == "boundary" for r in rows)
            self.wait_flat(book_pairs, timeout=max(0.0, start_at + 3.5 - time.time())
                           if boundary else 20.0)
        faults = [{**spec, "duration_s": row.duration_s} for row in rows for spec in row.faults()]
        self.watch_markets = any(row.endpoint == "markets" for row in rows)
        start = time.time()
        self.post_faults(faults)
        ends = {row.key: start + row.duration_s for row in rows}
        time.sleep(max(0.0, max(ends.values()) - time.time()))
        recovered: dict[str, float | None] = {row.key: None for row in rows}
        deadline = max(ends[r.key] + r.recovery_bound_s + SLACK_S for r in rows)
        while time.time() < deadline and any(v is None for v in recovered.values()):
            for row in rows:
                if recovered[row.key] is None:
                    recovered[row.key] = self.evidence(row, start, ends[row.key])
            time.sleep(SAMPLE_S)
        self.clear_faults()
        self.watch_markets = False
        # iterations after the fault are part of "survived": give them AFTER_S at least
        time.sleep(max(SAMPLE_S * 2, max(ends.values()) + AFTER_S + SAMPLE_S - time.time()))
        results = [self.measure(row, start, ends[row.key], recovered[row.key]) for row in rows]
        if self.stopped_since(start):
            # Freqtrade stops trading on an OperationalException and waits for an operator's
            # /start. The row is failed (not survived); restarting lets the next rows measure
            # their own faults instead of this one's aftermath.
            http("POST", f"{self.bot.api}/api/v1/start")
            self.wait_ready(entries=len(read_trades(self.bot.db)) + 2)
        return results

    def stopped_since(self, start: float) -> bool:
        changes = self.log.between(start, time.time() + 1, r"^Changing state")
        return bool(changes) and changes[-1].message.endswith("STOPPED")

    def wait_flat(self, pairs: set[str], timeout: float = 20.0) -> None:
        uri = f"file:{self.bot.db}?mode=ro"
        deadline = time.time() + timeout
        while time.time() < deadline:
            with suppress(sqlite3.OperationalError), sqlite3.connect(uri, uri=True) as conn:
                marks = ",".join("?" * len(pairs))
                query = f"SELECT COUNT(*) FROM trades WHERE is_open = 1 AND pair IN ({marks})"
                if conn.execute(query, sorted(pairs)).fetchone() == (0,):
                    return
            time.sleep(0.1)

    # evidence and measures
    def whitelist_before(self, t: float) -> tuple[str, ...]:
        lists = [s.whitelist for s in self.samples if s.t < t and s.whitelist]
        return lists[-1] if lists else ()

    def evidence(self, row: FaultRow, start: float, end: float) -> float | None:
        """Time of the first healthy evidence for the row's endpoint after the fault end."""
        now = time.time()
        before = self.whitelist_before(start)
        if row.endpoint == "tickers":
            # a refresh from complete tickers, with the pre-fault whitelist still (or again) there
            for line in self.log.between(end, now, r"^universe: "):
                if "kept last good" in line.message:
                    continue
                after = [s.whitelist for s in self.samples
                         if line.ts <= s.t <= line.ts + 3 and s.whitelist is not None]
                if after and after[-1] == before:
                    return line.ts
            return None
        if row.endpoint == "markets":
            return self._markets_evidence(start, end, before, now)
        trades = [t for t in read_trades(self.bot.db) if t.opened >= end]
        firsts = []
        for pair in row.affected:
            ok = [t.opened for t in trades
                  if t.pair == pair and (row.endpoint != "candles" or not t.stale())]
            if not ok:
                return None
            firsts.append(min(ok))
        return max(firsts)

    def _markets_evidence(self, start: float, end: float, before: tuple[str, ...],
                          now: float) -> float | None:
        """The bot holds every USD market and the pre-fault whitelist, and its last market
        reload did not fail (freqtrade keeps the old markets when a reload raises, and retries
        the reload on every iteration until one succeeds)."""
        healthy_from = end
        errors = self.log.between(start, now, r"^Could not load markets")
        if errors:
            later = [t for t in self.reloads if t > errors[-1].ts]
            if not later or now < later[0] + CCXT_TIMEOUT_MS / 1000 + 1:
                return None  # a failing attempt logs its error at most one ccxt timeout later
            healthy_from = max(end, later[0])
        expected = len(PAIRS)
        for sample in self.samples:
            if (sample.t >= healthy_from and sample.whitelist == before
                    and sample.markets is not None and sample.markets >= expected):
                return sample.t if sample.t > healthy_from + SAMPLE_S else healthy_from
        return None

    def measure(self, row: FaultRow, start: float, end: float,
                healthy_at: float | None) -> RowResult:
        settled = healthy_at if healthy_at is not None else end + row.recovery_bound_s
        settled = max(settled, end + AFTER_S)
        window = [s for s in self.samples if start <= s.t <= settled + SAMPLE_S]
        counts = [(s.t, s.iterations) for s in window if s.iterations is not None]

        def moved(lo: float, hi: float) -> int:
            values = [v for t, v in counts if lo <= t <= hi]
            return int(values[-1] - values[0]) if len(values) > 1 else 0

        stall, last_change = 0.0, counts[0][0] if counts else start
        for (_, before), (t, value) in zip(counts, counts[1:], strict=False):
            if value != before:
                stall = max(stall, t - last_change)
                last_change = t
        if counts:
            stall = max(stall, counts[-1][0] - last_change)
        trades = read_trades(self.bot.db)
        pre_whitelist = self.whitelist_before(start)
        affected = set(row.affected)
        bad = []
        for trade in trades:
            if not start <= trade.opened <= settled or trade.pair not in affected:
                continue
            reason = None
            if trade.stale():
                reason = "stale candle"
            elif (row.endpoint == "book" and row.kind != "latency" and trade.opened < end):
                reason = "book failing"
            elif row.endpoint in ("tickers", "markets") and trade.pair not in pre_whitelist:
                reason = "outside last good universe"
            if reason:
                when = datetime.fromtimestamp(trade.opened, UTC).strftime("%H:%M:%S")
                bad.append(f"{trade.pair}@{when} ({reason})")
        frozen = None
        if row.kind == "stale_candles":
            first_boundary = math.ceil(start / TIMEFRAME_S) * TIMEFRAME_S
            frozen = sum(1 for t in trades if t.pair in affected and not t.stale()
                         and first_boundary <= t.opened < end)
        before = sum(1 for t in trades if start - BEFORE_S <= t.opened < start)
        during_other = sum(1 for t in trades if start <= t.opened < end and t.pair not in affected)
        refusals = sum(
            1 for line in self.log.between(
                start, settled + 1, r"Unable to create trade|ENTRY_REFUSED|Outdated history|User denied entry")
            if any(p in line.message for p in affected))
        lists = [s.whitelist for s in window if s.whitelist is not None]
        transitions = sum(1 for a, b in zip(lists, lists[1:], strict=False) if a != b)
        if lists and pre_whitelist and lists[0] != pre_whitelist:
            transitions += 1
        logged = len(self.log.between(start, settled + 1, r"^Whitelist with"))
        answered = len(lists)
        core_kept = answered > 0 and all(set(CORE) <= set(w) for w in lists)
        return RowResult(
            row=row, start=start, end=end, settled=settled,
            recovery_s=None if healthy_at is None else round(max(0.0, healthy_at - end), 1),
            alive=all(s.alive for s in window) and self.bot.process.poll() is None,
            stopped=self.stopped_since(start), iterations=moved(start, end),
            iterations_after=moved(end, settled + SAMPLE_S), stall_s=round(stall, 1), bad_entries=bad, entries_before=before,
            entries_during_other=during_other, refusals=refusals,
            universe_changes=max(transitions, logged), core_kept=core_kept,
            tracebacks=self.log.unexpected_tracebacks(start, settled + 1), frozen_entries=frozen,
            whitelist_answered=answered, whitelist_unanswered=len(window) - answered)

    def run_checks(self, results: Sequence[RowResult]) -> list[str]:
        """Problems outside every row: core pairs missing from any sample, tracebacks."""
        problems = []
        self.log.poll()
        missing = [s.t for s in self.samples
                   if s.whitelist is not None and not set(CORE) <= set(s.whitelist)]
        if missing:
            problems.append(f"BTC/ETH/SOL missing from the whitelist in {len(missing)} samples")
        if not any(s.whitelist is not None for s in self.samples):
            problems.append(f"the whitelist API never answered ({len(self.samples)} samples)")
        spans = [(r.start, r.settled + 1) for r in results]
        odd = [message for ts, message in self.log.tracebacks
               if not any(lo <= ts <= hi for lo, hi in spans)
               and "Could not load markets" not in message]
        if odd:
            problems.append(f"{len(odd)} unexpected tracebacks outside the fault rows: {odd[:3]}")
        return problems


def _slots(rows: Sequence[FaultRow]) -> list[list[FaultRow]]:
    slots: list[list[FaultRow]] = []
    groups: dict[str, list[FaultRow]] = {}
    for row in rows:
        if row.group is None:
            slots.append([row])
        elif row.group in groups:
            groups[row.group].append(row)
        else:
            groups[row.group] = [row]
            slots.append(groups[row.group])
    return slots


def _slot_span(rows: Sequence[FaultRow]) -> float:
    """Expected wall time of a slot: the window plus a typical recovery."""
    return max(r.duration_s for r in rows) + SLACK_S * 2


# -- processes -----------------------------------------------------------------------------------
def bot_config(replay_port: int, api_port: int, policy: Path) -> dict[str, Any]:
    config: dict[str, Any] = exchange_override(replay_port)
    exchange = config["exchange"]
    for key in ("ccxt_config", "ccxt_async_config"):
        exchange[key]["timeout"] = CCXT_TIMEOUT_MS
    exchange["markets_refresh_interval"] = MARKETS_REFRESH_S // 60
    market = "market"
    config.update({
        "timeframe": "1m",
        "max_open_trades": 20,
        "stake_amount": 25,
        "dry_run_wallet": 100_000,
        "order_types": {"entry": market, "exit": market, "emergency_exit": market,
                        "force_entry": market, "force_exit": market, "stoploss": market,
                        "stoploss_on_exchange": False},
        "unfilledtimeout": {"entry": 10, "exit": 10, "exit_timeout_count": 0, "unit": "seconds"},
        "internals": {"process_throttle_secs": 1, "heartbeat_interval": 10},
        "pairlists": [{"method": "TieredLiquidityPairList",
                       "refresh_period": PAIRLIST_REFRESH_S, "policy_file": str(policy),
                       "universe_file": str(REPO / "config" / "universe.yaml")}],
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1",
                       "listen_port": api_port, "username": USER, "password": PASSWORD,
                       "jwt_secret_key": "reliability-test-jwt-secret-0123456789abcdef",
                       "ws_token": "reliability-test-ws-token", "CORS_origins": []},
    })
    return config


@contextmanager
def fault_lab(workdir: Path, data_dir: Path) -> Iterator[Lab]:
    """Replay (1m data) + probe bot on free ports; both stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen[Any]] = []
    lab: Lab | None = None
    try:
        replay_port = free_port()
        replay_log = (workdir / "replay.log").open("w")
        started.append(start_replay(data_dir, replay_port, log=replay_log, extra_args=(
            "--timeframes", "1m", "--start-offset-candles", "1500")))
        metrics_port, api_port = free_port(), free_port()
        policy = policy_file(workdir, max_total_at_risk_pct=90, port=metrics_port)
        override = workdir / "bot.json"
        override.write_text(json.dumps(bot_config(replay_port, api_port, policy)))
        log, db = workdir / "bot.log", workdir / "dry.sqlite"
        command = [*FREQTRADE, "trade", "--dry-run", "-c", str(REPO / "config" / "config.json"),
                   "-c", str(override), "--userdir", str(REPO / "user_data"),
                   "--strategy", "ChurnProbeStrategy", "--strategy-path", str(STRATEGIES),
                   "--db-url", f"sqlite:///{db}"]
        process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                   env=CHILD_ENV, start_new_session=True)
        started.append(process)
        bot = Bot(process, log, db, f"http://127.0.0.1:{api_port}",
                  f"http://127.0.0.1:{metrics_port}/metrics")
        lab = Lab(f"http://127.0.0.1:{replay_port}", bot)
        lab.start()
        lab.wait_ready()
        yield lab
    finally:
        if lab is not None:
            lab.close()
        for process in reversed(started):
            stop(process, grace=10.0)


# -- the table -----------------------------------------------------------------------------------
COLUMNS = ("fault", "endpoint", "pairs", "window (UTC)", "survived", "stall s",
           "entries on bad data", "entries before / other pairs during", "refusals",
           "universe changes", "whitelist samples answered / not", "recovery s (bound)")


def render_table(results: Sequence[RowResult]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        pairs = ", ".join(r.row.pairs) if r.row.pairs else "all"
        survived = "yes" if r.survived else (
            "NO (stopped trading)" if r.stopped else "NO (exited)" if not r.alive else
            "NO (no iteration after the fault)")
        recovery = "none" if r.recovery_s is None else f"{r.recovery_s:g}"
        recovery += f" ({r.row.recovery_bound_s:g})"
        if r.recovery_s is not None and not r.recovered:
            recovery += " LATE"
        core = ("" if r.core_kept else " (BTC/ETH/SOL unproven)" if not r.whitelist_answered
                else " (BTC/ETH/SOL lost)")
        window = datetime.fromtimestamp(r.start, UTC).strftime("%H:%M:%S")
        window += f" +{r.end - r.start:.0f}s"
        # refusals and a control group exist where the fault hits some pairs' data only
        per_pair = bool(r.row.pairs)
        other = str(r.entries_during_other) if per_pair else "-"
        cells = (r.row.name, r.row.endpoint, pairs, window, survived, f"{r.stall_s:g}",
                 str(len(r.bad_entries)), f"{r.entries_before} / {other}",
                 str(r.refusals) if per_pair else "-", f"{r.universe_changes}{core}",
                 f"{r.whitelist_answered} / {r.whitelist_unanswered}", recovery)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(name: str, results: Sequence[RowResult], wall_s: float,
                 notes: Sequence[str] = ()) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / f"{name}.md"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"# {name} ({stamp}, {wall_s:.0f} s wall time)", "", render_table(results)]
    body += [f"- {note}" for note in notes]
    for r in results:
        if r.frozen_entries:
            body.append(f"- {r.row.key}: {r.frozen_entries} entries on the frozen candle after "
                        "freqtrade's 15 s grace (timestamp current, values as of the freeze)")
        for problem in r.problems():
            body.append(f"- {r.row.key}: {problem}")
    path.write_text("\n".join(body) + "\n")
    return path

