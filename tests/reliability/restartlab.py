"""Restart laboratory for [F] item 2: real dry-run bots killed with SIGKILL, then restarted.

Every bot is ``trader247 run`` with the probe strategy (the cap alone, entries through REST
``/forceenter``) against one replay exchange, on one database (a SQLite file, or PostgreSQL:
:class:`LabDb`) and one PID file. Each bot run ends with ``os.kill(pid, SIGKILL)`` at a
planned moment, except the last, which must settle and stop cleanly. What the runs leave behind (logs, database copies taken after each
kill, ``/metrics`` samples, REST answers) is audited afterwards; :class:`Audit` holds the
figures the tests assert on.

Definitions (what "0 double trims" etc. mean here):

Trim step
    One trim round (``TRIM_ROUND: ... selling=S ... cycle=N pairs=P1,P2``) plans ``orders``
    partial exits worth ``selling`` in the stake currency at mark; that planned reduction, as
    a share of equity (``selling / equity``, equity from the metrics sample nearest in time),
    is the round's *trim step*. ``step`` below is the largest step of the run. A round is
    identified by its cycle number, which the cap persists (``trader247_cap_state``) and
    restores, so it stays unique across restarts; a planned step is ``(round cycle, pair)``.

Double trim
    Any of: (a) two trim orders (``orders.ft_order_tag == 'trim'``) attributed to the same
    planned step; (b) a *replayed step*: a trim order placed by a bot run for a round that run
    never planned (the latest round listing that pair before the order was logged by an
    earlier, killed run), i.e. a pre-kill step re-placed after the restart, whether or not the
    one before the kill had filled; (c) two trim orders of the same trade in flight at once;
    (d) a pair the restore still lists in ``open_trims`` although its trim order had filled
    before the kill, trimmed again before the bot was ACTIVE again (same REDUCING episode): the
    restarted bot took the filled trim for a failed one and re-planned it.
    Each trim order is attributed to the latest ``TRIM_ROUND`` logged at or before its
    ``order_date`` that lists its pair; an order no round lists is *unplanned* (also counted).
    Consequence check: per round, the filled trim value (``filled x average``) must not exceed
    the planned ``selling`` by more than 5 % + 1 stake unit (*over-sold round*), and round
    cycle numbers must strictly increase across all runs.

Lost trade
    Between the database left by a kill and the one left by the next run: every trade id and
    every order id still exists, a trade never goes from closed back to open, an order's
    ``filled`` never shrinks and a closed or cancelled order never reopens; every trade the
    REST API acknowledged (``/forceenter`` answer) is in the database after the kill; the open
    trades the restarted bot reports on ``/status`` are the open trades of the database at the
    kill. Every SQLite database passes ``PRAGMA integrity_check`` (read from a copy of the
    db, -wal and -shm files, which is what the next start recovers; a PostgreSQL server
    outlives the killed bot and is read directly); every trade without an open order has
    ``amount == sum(filled entries) - sum(filled exits)`` (closed trades: 0) within 1e-6
    relative; at the end no order is open (market trims fill at once; a trim that does not
    is cancelled after ``trim_timeout_seconds``). A mismatch of exactly one closed exit
    order's ``filled`` right after a kill is reported apart (*exit fill unapplied at a kill*):
    the signature of a kill between freqtrade committing an order's fill and applying it to
    the trade. The next start must reconcile it (``TRADE_RECONCILED: ... trade_id=N``, see
    ``trader247.adapters.trade_reconcile``); one it does not reconcile, and every other
    mismatch, is a failure.

Write-ahead
    At each kill the persisted cap state already counts every trim order the database holds
    (``trim_state.attempted >= trim orders``) and lists every open trim order in
    ``open_trims``; the next start logs ``cap state restored: cycle=N`` with N the persisted
    cycle (when it got as far as the cap, i.e. to the metrics exporter start), and the
    ``open_trims=[...]`` it restores no longer holds a pair whose trim order had filled before
    the kill (a kill between freqtrade's fill commit and the cap's state write leaves one in
    the persisted state). The next start reports and replaces the stale PID file the kill left.

At-risk bound
    ``trader247_exposure_at_risk_ratio`` is scraped every 0.5 s from each bot (a free metrics
    port per run). The bot itself never adds exposure over the cap (entries are clamped to the
    target and refused while REDUCING), so above the cap only price can carry it: a rally
    posted to the replay exchange at at-risk ``r0`` with multiplier ``k(t)`` can by itself take
    the book to ``r0 k / (1 - r0 + r0 k)`` (the *price-driven excursion*; all positions move
    together, the stake balance does not). Every sample must stay within
    ``max(cap + step, excursion(t)) + 0.5 pp``. Outside excursions (from a rally's start until
    the bot is ACTIVE again) at-risk must stay within ``cap + step`` alone, and the last run
    must get back to ACTIVE at or under the target. Force entries attempted while the metrics
    say REDUCING (before and after the attempt), into a new pair and into a held one (a
    position adjustment), must be refused.

Kill moments
    ``random``: uniform delay after the process start (so some land in start-up, validation,
    restore, or a running loop); ``up``: a delay after the bot is up (whitelist logged);
    ``trim``: right after (0-0.6 s) a ``TRIM_ROUND:`` line appears in the run's log, i.e.
    while that round's orders are being placed and filled (the log is polled every 3 ms; the
    kill lands ~40 ms after the line's timestamp plus the delay). Actions (probes, rallies,
    entries) run on a worker thread and never delay a kill; the table shows when each kill
    really landed and what the bot was doing. A bot that exits by itself, or gets no trim
    round within 150 s of a rally that took it over the cap, is a failure.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import threading
import time
import urllib.error
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.e2e.support import PAIRS, REPO, Bot, Replay, enter, http, launch_bot, policy_file
from trader247.cli.processes import free_port, start_replay, stop
from trader247.configfiles import load_policy
from trader247.metrics.scrape import scrape

SEED_ENV = "TRADER247_RESTART_SEED"
CYCLES_ENV = "TRADER247_RESTART_CYCLES"
REPORT_DIR = REPO / "reports" / "reliability"

# Pairs the tests may open besides the four of ``enter``; all are in the bundled universe.
EXTRA_PAIRS = ("LINK/USD", "ADA/USD", "AVAX/USD", "DOGE/USD", "LTC/USD", "DOT/USD")
SLOTS = len(PAIRS) + len(EXTRA_PAIRS)
# Market trims fill in well under a second; a short timeout bounds how long a trim the state
# remembers but the exchange never got (kill between write-ahead and placement) blocks its pair.
TRIM_TIMEOUT_S = 10
AT_RISK_TOLERANCE = 0.005
# An action that fails at most this long before its bot's kill was failed by the kill.
ACTION_KILL_GRACE_S = 3.0
RUN_LIMIT_S = 300.0  # a run whose kill moment never comes (a bot that never got up) ends here
AMOUNT_RTOL = 1e-6

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - ")
_ROUND = re.compile(
    r"TRIM_ROUND: at_risk=(?P<risk>[\d.]+)% cap=[\d.]+% orders=(?P<orders>\d+)\s+"
    r"selling=(?P<selling>\S+)\s+to_trim=(?P<to_trim>\S+)\s+cycle=(?P<cycle>\d+)\s+"
    r"pairs=(?P<pairs>\S+)")
_RESTORED = re.compile(r"cap state restored: cycle=(\d+)")
_RESTORED_TRIMS = re.compile(r"cap state restored: cycle=\d+ open_trims=\[([^\]]*)\]")
# Failure names of the kill window pinned by test_kill_between_fill_commit_and_fill_processing:
# freqtrade commits an order's fill before it applies it to the trade and calls order_filled.
RETRIMMED = "trim re-placed after a restart although the one before the kill filled"
FILL_FORGOTTEN = "restore kept a filled trim as open"
UNRECONCILED = "exit fill unapplied at a kill and not reconciled by the next start"
_USD = '{currency="USD"}'


# --------------------------------------------------------------------------- value types
@dataclass(frozen=True)
class KillMoment:
    # "random": delay after the process start; "up": after the bot is up (whitelist logged);
    # "trim": after a TRIM_ROUND line appears.
    kind: str
    delay: float

    def describe(self) -> str:
        if self.kind == "trim":
            return f"TRIM_ROUND +{self.delay * 1000:.0f}ms"
        return f"{'start' if self.kind == 'random' else 'up'} +{self.delay:.1f}s"


@dataclass(frozen=True)
class CyclePlan:
    moment: KillMoment
    action: str  # "open" (first run only), "rally", "dip" or "idle"
    peak: float = 0.30  # at-risk a rally aims at
    ramp_s: float = 3.0
    dip: float = 0.85


@dataclass(frozen=True)
class Sample:
    t: float
    run: int
    ratio: float
    equity: float
    reducing: bool
    trims_open: int
    iteration: float  # unix time the bot iteration behind this reading ended


@dataclass(frozen=True)
class Rally:
    start: float
    duration: float
    multiplier: float
    reference: float  # at-risk ratio when the rally was posted

    def excursion(self, t: float) -> float:
        if t < self.start:
            return 0.0
        progress = 1.0 if self.duration <= 0 else min(1.0, (t - self.start) / self.duration)
        k = 1.0 + (self.multiplier - 1.0) * progress
        r = self.reference
        return r * k / (1.0 - r + r * k)


@dataclass(frozen=True)
class Round:
    run: int
    t: float
    cycle: int
    orders: int
    pairs: tuple[str, ...]
    at_risk_pct: float
    selling: float
    to_trim: float


@dataclass(frozen=True)
class TradeRow:
    id: int
    pair: str
    is_open: bool
    amount: float


@dataclass(frozen=True)
class OrderRow:
    id: int
    trade_id: int
    pair: str
    side: str
    tag: str | None
    is_open: bool
    status: str | None
    filled: float
    average: float
    order_date: float
    done_date: float | None  # filled, else last update (cancel)


@dataclass
class DbSnapshot:
    label: str
    integrity: str
    trades: dict[int, TradeRow]
    orders: dict[int, OrderRow]
    cap_state: dict[str, Any] | None

    @property
    def trims(self) -> list[OrderRow]:
        return sorted((o for o in self.orders.values() if o.tag == "trim"), key=lambda o: o.id)

    @property
    def open_trades(self) -> set[int]:
        return {t.id for t in self.trades.values() if t.is_open}


@dataclass(frozen=True)
class Probe:
    run: int
    pair: str
    accepted: bool
    conclusive: bool  # REDUCING before and after the attempt
    detail: str


@dataclass
class LogTail:
    """Reads a growing log incrementally: the kill-during-trim path polls it every few ms."""

    path: Path
    text: str = ""
    _offset: int = 0

    def poll(self) -> str:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return ""
        # Never split a UTF-8 sequence (the launcher prints emoji) across two polls.
        cut = len(chunk)
        while cut and chunk[cut - 1] & 0xC0 == 0x80:
            cut -= 1
        if cut and chunk[cut - 1] >= 0xC0:
            cut -= 1
        new = chunk[:cut].decode("utf-8", errors="replace")
        self._offset += cut
        self.text += new
        return new


@dataclass
class RunRecord:
    index: int
    bot: Bot
    metrics_url: str
    started: float
    pid_before: int | None
    tail: LogTail
    moment: KillMoment | None = None
    up_at: float | None = None
    ended: float | None = None
    killed: bool = False
    exit_code: int | None = None
    snapshot: DbSnapshot | None = None
    api_open_ids: set[int] | None = None
    pid_file_ok: bool | None = None
    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    action_failures: list[tuple[float, str]] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return self.up_at is not None


# --------------------------------------------------------------------------- readers
def log_records(text: str) -> list[tuple[float, str]]:
    """(unix time, message) per log record; rich wraps long lines, so continuation lines are
    joined back to their record."""
    records: list[tuple[float, str]] = []
    for line in text.splitlines():
        match = _STAMP.match(line)
        if match:
            # freqtrade stamps local time; naive datetimes are local for .timestamp().
            stamp = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            records.append((stamp, line))
        elif records:
            stamp, message = records[-1]
            records[-1] = (stamp, f"{message} {line.strip()}")
    return records


def parse_rounds(text: str, run: int) -> list[Round]:
    rounds = []
    for stamp, message in log_records(text):
        match = _ROUND.search(message)
        if match:
            rounds.append(Round(run, stamp, int(match["cycle"]), int(match["orders"]),
                                tuple(match["pairs"].split(",")), float(match["risk"]),
                                float(match["selling"]), float(match["to_trim"])))
    return rounds


def _utc(value: str | datetime | None) -> float | None:
    """Naive UTC as freqtrade stores it: ISO text in SQLite, a datetime from PostgreSQL."""
    if value is None:
        return None
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return stamp.replace(tzinfo=UTC).timestamp()


STATE_QUERY = "SELECT value FROM trader247_state WHERE key = 'trader247_cap_state'"
STATE_UPDATE = "UPDATE trader247_state SET value = ? WHERE key = 'trader247_cap_state'"
_TRADES_QUERY = "SELECT id, pair, is_open, amount FROM trades"
_ORDERS_QUERY = (
    "SELECT id, ft_trade_id, ft_pair, ft_order_side, ft_order_tag, ft_is_open, status, filled,"
    " average, order_date, order_filled_date, order_update_date FROM orders")


class LabDb:
    """The bots' database: a SQLite file, or a database of the test session's PostgreSQL
    cluster (tests/pg.py). ``snapshot`` reads what a dead writer left; ``execute`` edits it
    between runs (the fill-window fixture)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None

    @property
    def kind(self) -> str:
        return "SQLite" if self.path is not None else "PostgreSQL"

    def snapshot(self, scratch: Path, label: str) -> DbSnapshot:
        if self.path is not None:
            return _sqlite_snapshot(self.path, scratch, label)
        return _postgres_snapshot(self.url, label)

    def execute(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        """``(sql with ? placeholders, parameters)`` in one transaction."""
        if self.path is not None:
            connection = sqlite3.connect(self.path)
            with connection:
                for sql, params in statements:
                    connection.execute(sql, params)
            connection.close()
            return
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        with engine.begin() as pg:
            for sql, params in statements:
                names = {f"p{i}": value for i, value in enumerate(params)}
                numbered = sql
                for i in range(len(params)):
                    numbered = numbered.replace("?", f":p{i}", 1)
                pg.execute(text(numbered), names)
        engine.dispose()


def _sqlite_snapshot(db: Path, scratch: Path, label: str) -> DbSnapshot:
    """From a copy: sqlite recovers the copy's WAL exactly as the next start would, and the
    original files stay untouched."""
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / db.name
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{db}{suffix}")
        target = Path(f"{copy}{suffix}")
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        if source.exists():
            shutil.copyfile(source, target)
    connection = sqlite3.connect(copy)
    try:
        integrity = str(connection.execute("PRAGMA integrity_check").fetchone()[0])
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        return _snapshot_of(label, integrity, tables,
                            lambda sql: list(connection.execute(sql).fetchall()))
    finally:
        connection.close()


def _postgres_snapshot(url: str, label: str) -> DbSnapshot:
    """The server outlives the killed bot: the bot's open transactions are rolled back, there
    are no files to copy or check (a killed client cannot corrupt a PostgreSQL database), so
    ``integrity`` is "ok" when the server answers the queries."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            return _snapshot_of(label, "ok", tables,
                                lambda sql: [tuple(r) for r in connection.execute(text(sql))])
    finally:
        engine.dispose()


def _snapshot_of(label: str, integrity: str, tables: set[str],
                 rows: Callable[[str], list[tuple[Any, ...]]]) -> DbSnapshot:
    if not {"trades", "orders"} <= tables:
        # Killed before freqtrade created its schema: nothing to lose yet.
        return DbSnapshot(label, integrity, {}, {}, None)
    trades = {int(row[0]): TradeRow(int(row[0]), str(row[1]), bool(row[2]), float(row[3]))
              for row in rows(_TRADES_QUERY)}
    orders = {}
    for row in rows(_ORDERS_QUERY):
        orders[int(row[0])] = OrderRow(
            int(row[0]), int(row[1]), str(row[2]), str(row[3]), row[4], bool(row[5]),
            row[6], float(row[7] or 0.0), float(row[8] or 0.0),
            _utc(row[9]) or 0.0, _utc(row[10]) or _utc(row[11]))
    saved = rows(STATE_QUERY) if "trader247_state" in tables else []
    cap_state = json.loads(saved[0][0]) if saved and saved[0][0] else None
    return DbSnapshot(label, integrity, trades, orders, cap_state)


def read_metrics(url: str, run: int) -> Sample | None:
    try:
        values = scrape(url, timeout=2.0)
    except (OSError, ValueError):
        return None
    equity = values.get(f"trader247_exposure_equity_stake{_USD}", 0.0)
    if equity <= 0:  # the exporter is up but the cap has not evaluated yet
        return None
    return Sample(time.time(), run, values["trader247_exposure_at_risk_ratio"], equity,
                  values.get('trader247_cap_state{state="REDUCING"}', 0.0) == 1.0,
                  int(values.get("trader247_trims_open", 0.0)),
                  values.get("trader247_bot_last_iteration_timestamp_seconds", 0.0))


class Sampler:
    """Scrapes the current bot's ``/metrics`` twice a second from a daemon thread."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self._target: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="metrics-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def follow(self, url: str, run: int) -> None:
        self._target = (url, run)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            target = self._target
            if target is not None:
                sample = read_metrics(*target)
                if sample is not None:
                    self.samples.append(sample)


# --------------------------------------------------------------------------- the lab
class RestartLab:
    """One replay exchange, a chain of bot runs on one database; stops everything it started."""

    def __init__(self, tmp_path: Path, data_dir: Path, seed: int,
                 db_url: str | None = None) -> None:
        self.tmp_path = tmp_path
        self.data_dir = data_dir
        self.seed = seed
        self.db = LabDb(db_url or f"sqlite:///{tmp_path / 'dry.sqlite'}")
        self.pid_file = tmp_path / "trader247.pid"
        self.runs: list[RunRecord] = []
        self.rallies: list[Rally] = []
        self.probes: list[Probe] = []
        self.acknowledged: dict[int, int] = {}  # trade id -> run that got the REST answer
        self.sampler = Sampler()
        self.replay: Replay | None = None
        self.final: DbSnapshot | None = None
        self.began = time.time()
        self.settled: bool = False
        policy = load_policy(policy_file(tmp_path))
        self.cap = policy.risk.max_total_at_risk_pct / 100.0
        self.target = (policy.risk.max_total_at_risk_pct - policy.risk.trim_band_pct) / 100.0
        self._next_action = 0.0
        self._replay_log = (tmp_path / "replay.log").open("w")

    def __enter__(self) -> RestartLab:
        port = free_port()
        self.replay = Replay(port, start_replay(self.data_dir, port, log=self._replay_log))
        self.sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sampler.close()
        for run in self.runs:
            stop(run.bot.process, grace=10.0)
        if self.replay is not None:
            stop(self.replay.process, grace=5.0)
        self._replay_log.close()

    # ---------------------------------------------------------------- bot runs
    def start_run(self, trim_timeout: int = TRIM_TIMEOUT_S) -> RunRecord:
        assert self.replay is not None
        pid_before = None
        with contextlib.suppress(OSError, ValueError):
            pid_before = int(self.pid_file.read_text().strip())
        port = free_port()
        policy = policy_file(self.tmp_path, port=port, trim_timeout_seconds=trim_timeout)
        index = len(self.runs)
        bot = launch_bot(self.tmp_path, self.replay, policy, name=f"run{index:02d}",
                         slots=SLOTS, wait=False, db=self.db.url)
        run = RunRecord(index, bot, f"http://127.0.0.1:{port}/metrics", time.time(),
                        pid_before, LogTail(bot.log))
        self.runs.append(run)
        self.sampler.follow(run.metrics_url, index)
        return run

    def _poll(self, run: RunRecord) -> str:
        new = run.tail.poll()
        if run.up_at is None and "Whitelist with" in run.tail.text:
            run.up_at = time.time()
            with contextlib.suppress(OSError, ValueError):
                run.pid_file_ok = int(self.pid_file.read_text().strip()) == run.bot.process.pid
        return new

    def wait_up(self, run: RunRecord, timeout: float = 120.0) -> None:
        deadline = time.time() + timeout
        while not run.up:
            self._poll(run)
            if run.bot.process.poll() is not None or time.time() > deadline:
                raise AssertionError(f"bot did not come up:\n{run.tail.text[-3000:]}")
            time.sleep(0.1)

    def wait_log(self, run: RunRecord, pattern: str, count: int = 1,
                 timeout: float = 90.0) -> None:
        deadline = time.time() + timeout
        while len(re.findall(pattern, run.tail.text)) < count:
            self._poll(run)
            if run.bot.process.poll() is not None or time.time() > deadline:
                raise AssertionError(f"{pattern!r} x{count} not logged:\n{run.tail.text[-3000:]}")
            time.sleep(0.05)

    def act(self, run: RunRecord, action: str, plan: CyclePlan | None = None) -> str:
        self._act(run, action, plan)
        return run.actions[-1]

    def fresh(self, run: RunRecord, timeout: float = 8.0) -> Sample | None:
        return self._fresh(run, timeout=timeout)

    def stop_run(self, run: RunRecord) -> DbSnapshot:
        """SIGTERM (freqtrade's clean shutdown persists the cap state) and snapshot the db."""
        run.exit_code = stop(run.bot.process, grace=15.0, sig=signal.SIGTERM)
        run.ended = time.time()
        self._poll(run)
        if self.pid_file.exists():
            run.notes.append("PID file left after SIGTERM")
        run.snapshot = self.db.snapshot(self.tmp_path / "snapshots" / f"run{run.index:02d}",
                                        f"after stop {run.index}")
        return run.snapshot

    def kill(self, run: RunRecord) -> None:
        """SIGKILL the bot (``trader247 run`` hosts freqtrade in-process: its PID is the bot)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.bot.process.pid, signal.SIGKILL)
        run.exit_code = run.bot.process.wait(timeout=15)
        run.ended = time.time()
        run.killed = True
        self._poll(run)
        run.snapshot = self.db.snapshot(self.tmp_path / "snapshots" / f"run{run.index:02d}",
                                        f"after kill {run.index}")

    def run_killed(self, plan: CyclePlan) -> RunRecord:
        """Start a bot, act on it while it is up, SIGKILL it at ``plan.moment``.

        Actions run on a worker thread: some wait for bot iterations (seconds), and the kill
        must not wait for them. An action the kill interrupts fails with a connection error.
        """
        run = self.start_run()
        run.moment = plan.moment
        actions = ["api_view", "probe", *({"open": ["open", "rally"], "rally": ["rally"],
                                           "dip": ["dip", "topup"]}.get(plan.action, []))]
        if plan.moment.kind == "trim" and "rally" not in actions:
            actions.append("rally")
        kill_at = run.started + plan.moment.delay if plan.moment.kind == "random" else None
        trimming = plan.moment.kind == "trim"
        halt = threading.Event()
        worker = threading.Thread(target=self._work, args=(run, actions, plan, halt),
                                  name=f"actions-run{run.index}", daemon=True)
        while time.time() - run.started < RUN_LIMIT_S:
            self._poll(run)
            now = time.time()
            if run.up and not worker.is_alive() and worker.ident is None:
                worker.start()
            if plan.moment.kind == "up" and kill_at is None and run.up_at is not None:
                kill_at = run.up_at + plan.moment.delay
            if run.bot.process.poll() is not None:
                run.notes.append(f"exited by itself with {run.bot.process.returncode}")
                break
            if trimming and kill_at is None and "TRIM_ROUND:" in run.tail.text:
                kill_at = now + plan.moment.delay
            if kill_at is not None and now >= kill_at:
                break
            if trimming and now - run.started > 150:
                run.notes.append("no TRIM_ROUND within 150 s: killed anyway")
                break
            time.sleep(0.003 if trimming else 0.05)
        else:
            run.notes.append(f"no kill moment within {RUN_LIMIT_S:g} s (up: {run.up}): "
                             "killed anyway")
        self.kill(run)
        halt.set()
        if worker.ident is not None:
            worker.join(timeout=30)
        return run

    def _work(self, run: RunRecord, actions: list[str], plan: CyclePlan,
              halt: threading.Event) -> None:
        for action in actions:
            while time.time() < self._next_action and not halt.is_set():
                time.sleep(0.05)
            if halt.is_set():
                return
            if action == "rally" and plan.moment.kind == "trim" and "TRIM_ROUND:" in run.tail.text:
                continue  # a round is already under way: the kill is armed
            self._act(run, action, plan)

    def run_final(self, timeout: float = 180.0) -> RunRecord:
        """Start a bot, let it trim back to the target and finish its orders, stop it cleanly."""
        run = self.start_run()
        pending = ["api_view", "probe"]
        deadline = time.time() + timeout
        calm = 0
        while time.time() < deadline and run.bot.process.poll() is None:
            self._poll(run)
            if run.up and pending:
                self._act(run, pending.pop(0), None)
                continue
            sample = read_metrics(run.metrics_url, run.index) if run.up else None
            if sample is not None and not sample.reducing and sample.trims_open == 0 \
                    and sample.ratio <= self.target + AT_RISK_TOLERANCE and self._quiet(run):
                calm += 1
                if calm >= 3:  # three readings a second apart: no round or fill in between
                    self.settled = True
                    break
            else:
                calm = 0
            time.sleep(1.0)
        self.final = self.stop_run(run)
        self.final.label = "final"
        return run

    def _quiet(self, run: RunRecord) -> bool:
        try:
            return not any(t["has_open_orders"] for t in run.bot.get("status"))
        except (OSError, ValueError):
            return False

    # ---------------------------------------------------------------- actions
    def _act(self, run: RunRecord, action: str, plan: CyclePlan | None) -> None:
        try:
            text = getattr(self, f"_do_{action}")(run, plan)
        # A kill under the action fails it (connection refused, enter() never sees its fills):
        # expected. The same error while the bot stays up is a failure (Audit.action_failures).
        except (OSError, ValueError, AssertionError) as exc:
            text = f"{action} failed: {exc}"
            run.action_failures.append((time.time(), text))
        run.actions.append(text)

    def _do_api_view(self, run: RunRecord, plan: CyclePlan | None) -> str:
        run.api_open_ids = {int(t["trade_id"]) for t in run.bot.get("status")}
        return f"status: {len(run.api_open_ids)} open"

    def _do_open(self, run: RunRecord, plan: CyclePlan | None) -> str:
        enter(run.bot, 50.0)  # 4 x $50 of $1000: 20 % at risk
        for trade in run.bot.get("status"):
            self.acknowledged[int(trade["trade_id"])] = run.index
        return "opened 4 x $50"

    def _fresh(self, run: RunRecord, iterations: int = 2, timeout: float = 8.0) -> Sample | None:
        """A reading from the ``iterations``-th iteration ending after this call (0: any).

        The gauges are set at the start of an iteration, its timestamp at its end: the second
        iteration ending after the call is the first known to have started after it.
        """
        mark = time.time()
        deadline = mark + timeout
        seen = 0
        while time.time() < deadline and run.bot.process.poll() is None:
            sample = read_metrics(run.metrics_url, run.index)
            if sample is not None and iterations == 0:
                return sample
            if sample is not None and sample.iteration > mark:
                seen += 1
                mark = sample.iteration
                if seen >= iterations:
                    return sample
            time.sleep(0.2)
        return None

    def _do_rally(self, run: RunRecord, plan: CyclePlan | None) -> str:
        assert self.replay is not None and plan is not None
        sample = self._fresh(run)
        if run.bot.process.poll() is not None:
            return "rally skipped: killed first"
        if sample is None or sample.ratio <= 0:
            return "rally skipped: no exposure reading"
        if sample.reducing and plan.moment.kind == "trim":
            return "rally skipped: already REDUCING"
        r = sample.ratio
        # The multiplier that takes the whole book from r to the planned peak by price alone.
        k = plan.peak * (1.0 - r) / (r * (1.0 - plan.peak))
        k = min(max(k, 1.05), 3.0)
        started = time.time()
        http("POST", f"{self.replay.url}/_replay/price_script",
             {"duration_s": plan.ramp_s, "from_multiplier": 1.0, "to_multiplier": k}, auth=False)
        self.rallies.append(Rally(started, plan.ramp_s, k, r))
        self._next_action = started + plan.ramp_s
        return f"rally x{k:.2f} over {plan.ramp_s:.0f}s from {r:.1%}"

    def _do_dip(self, run: RunRecord, plan: CyclePlan | None) -> str:
        assert self.replay is not None and plan is not None
        http("POST", f"{self.replay.url}/_replay/price_script",
             {"duration_s": 2.0, "from_multiplier": 1.0, "to_multiplier": plan.dip}, auth=False)
        self._next_action = time.time() + 4.0  # ramp, then two iterations to measure it
        return f"dip x{plan.dip:.2f}"

    def _free_pair(self, run: RunRecord) -> str | None:
        held = {t["pair"] for t in run.bot.get("status")}
        return next((p for p in EXTRA_PAIRS if p not in held), None)

    def _do_topup(self, run: RunRecord, plan: CyclePlan | None) -> str:
        sample = self._fresh(run)
        pair = self._free_pair(run)
        if sample is None or sample.reducing or pair is None:
            return "top-up skipped"
        try:
            trade = run.bot.post("forceenter", {"pair": pair, "stakeamount": 40})
        except urllib.error.HTTPError as exc:
            return f"top-up {pair} refused ({exc.code}) at {sample.ratio:.1%}"
        if isinstance(trade, dict) and trade.get("trade_id") is not None:
            self.acknowledged[int(trade["trade_id"])] = run.index
            return f"top-up {pair} ${float(trade.get('stake_amount') or 0):.2f}"
        return f"top-up {pair}: {trade!r}"

    def _do_probe(self, run: RunRecord, plan: CyclePlan | None) -> str:
        """While REDUCING a force entry must be refused, into a new pair (freqtrade asks the
        strategy's stake and confirm hooks) and into a held one (a position adjustment).

        Conclusive when the latest reading just before the attempts and the first one from an
        iteration ending after them both say REDUCING (the state only moves at evaluations).
        """
        status = run.bot.get("status")
        entries = {t["pair"]: int(t["nr_of_successful_entries"]) for t in status}
        targets = [("new", next((p for p in EXTRA_PAIRS if p not in entries), None)),
                   ("held", next((t["pair"] for t in status if not t["has_open_orders"]), None))]
        before = self._fresh(run, iterations=0)
        if before is None or not before.reducing:
            return "probe: not REDUCING"
        answers: dict[str, str] = {}
        for _kind, pair in targets:
            if pair is None:
                continue
            try:
                answers[pair] = json.dumps(
                    run.bot.post("forceenter", {"pair": pair, "stakeamount": 20}))[:200]
            except urllib.error.HTTPError as exc:
                answers[pair] = f"HTTP {exc.code}"
        after = self._fresh(run, iterations=1)
        now = {t["pair"]: t for t in run.bot.get("status")}
        conclusive = after is not None and after.reducing
        texts = []
        for kind, pair in targets:
            if pair is None:
                continue
            trade = now.get(pair)
            grown = trade is not None and int(trade["nr_of_successful_entries"]) > entries.get(
                pair, 0)
            if grown and kind == "new":
                self.acknowledged[int(trade["trade_id"])] = run.index  # type: ignore[index]
            self.probes.append(Probe(run.index, f"{pair} ({kind})", grown, conclusive,
                                     answers.get(pair, "")))
            texts.append(f"{pair} ({kind}) {'ACCEPTED' if grown else 'refused'}")
        return f"probe while REDUCING: {', '.join(texts)}"

    # ---------------------------------------------------------------- audit
    def rounds(self) -> list[Round]:
        return [r for run in self.runs for r in parse_rounds(run.tail.text, run.index)]

    def audit(self) -> Audit:
        return Audit.of(self)


def _run_of(runs: list[RunRecord], t: float) -> int | None:
    for run in runs:
        if run.started <= t <= (run.ended or math.inf):
            return run.index
    return None


def _step(r: Round, samples: list[Sample]) -> float:
    """The round's planned reduction as a share of equity (nearest equity reading)."""
    same = [s for s in samples if s.run == r.run] or samples
    if not same:
        return 0.0
    nearest = min(same, key=lambda s: abs(s.t - r.t))
    return r.selling / nearest.equity


@dataclass
class Audit:
    """Every figure the tests assert on and the report prints."""

    rounds: list[Round]
    double_steps: list[str] = field(default_factory=list)
    replayed_steps: list[str] = field(default_factory=list)
    unplanned_trims: list[str] = field(default_factory=list)
    overlapping_trims: list[str] = field(default_factory=list)
    oversold_rounds: list[str] = field(default_factory=list)
    cycle_reuse: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    integrity: list[str] = field(default_factory=list)
    amount_mismatches: list[str] = field(default_factory=list)
    unapplied_fills: list[str] = field(default_factory=list)  # at kills: freqtrade's window
    unreconciled: list[str] = field(default_factory=list)
    action_failures: list[str] = field(default_factory=list)
    open_at_end: list[str] = field(default_factory=list)
    write_ahead: list[str] = field(default_factory=list)
    restore: list[str] = field(default_factory=list)
    pid_file: list[str] = field(default_factory=list)
    api_view: list[str] = field(default_factory=list)
    at_risk_violations: list[str] = field(default_factory=list)
    stale_open_trims: list[str] = field(default_factory=list)
    retrimmed_after_fill: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    step: float = 0.0
    at_risk_max: float = 0.0
    at_risk_max_outside: float = 0.0
    excursion_max: float = 0.0
    trim_orders: int = 0
    fill_windows: int = 0  # kills that fell between a trim's fill commit and its state write
    trim_kills: int = 0

    @property
    def double_trims(self) -> int:
        return (len(self.double_steps) + len(self.replayed_steps) + len(self.overlapping_trims)
                + len(self.retrimmed_after_fill))

    @classmethod
    def of(cls, lab: RestartLab) -> Audit:
        audit = cls(rounds=lab.rounds())
        audit._trims(lab)
        audit._database(lab)
        audit._restarts(lab)
        audit._at_risk(lab)
        for run in lab.runs:
            if "Traceback" in run.tail.text:
                audit.tracebacks.append(f"run {run.index}")
            audit.crashes += [f"run {run.index}: {note}" for note in run.notes]
            audit.action_failures += [
                f"run {run.index}: {text[:300]}" for at, text in run.action_failures
                if run.ended is None or run.ended - at > ACTION_KILL_GRACE_S]
        return audit

    def _trims(self, lab: RestartLab) -> None:
        final = lab.final or (lab.runs[-1].snapshot if lab.runs else None)
        if final is None:
            return
        trims = sorted(final.trims, key=lambda o: o.order_date)
        self.trim_orders = len(trims)
        by_step: dict[tuple[int, str], list[int]] = defaultdict(list)
        attributed: dict[int, Round] = {}
        for order in trims:
            placed_by = _run_of(lab.runs, order.order_date)
            listing = [r for r in self.rounds if r.t <= order.order_date and order.pair in r.pairs]
            if not listing:
                self.unplanned_trims.append(f"order {order.id} {order.pair}")
                continue
            origin = max(listing, key=lambda r: r.t)
            if placed_by is not None and origin.run != placed_by:
                self.replayed_steps.append(
                    f"order {order.id} {order.pair} placed by run {placed_by} for round "
                    f"cycle={origin.cycle} of run {origin.run}")
                continue
            attributed[order.id] = origin
            by_step[(origin.cycle, order.pair)].append(order.id)
        for (cycle, pair), ids in sorted(by_step.items()):
            if len(ids) > 1:
                self.double_steps.append(f"round cycle={cycle} {pair}: orders {ids}")
        by_trade: dict[int, list[OrderRow]] = defaultdict(list)
        for order in trims:
            by_trade[order.trade_id].append(order)
        for trade_id, orders in by_trade.items():
            for first, second in zip(orders, orders[1:], strict=False):
                done = first.done_date if first.done_date is not None else math.inf
                if second.order_date < done:
                    self.overlapping_trims.append(
                        f"trade {trade_id}: orders {first.id} and {second.id} in flight at once")
        sold: dict[tuple[int, int], float] = defaultdict(float)
        for order in trims:
            if order.id in attributed:
                step = attributed[order.id]
                sold[(step.run, step.cycle)] += order.filled * order.average
        for r in self.rounds:
            value = sold.get((r.run, r.cycle), 0.0)
            if value > r.selling * 1.05 + 1.0:
                self.oversold_rounds.append(
                    f"round cycle={r.cycle}: sold {value:.2f} of planned {r.selling:.2f}")
        ordered = sorted(self.rounds, key=lambda r: r.t)
        for earlier, later in zip(ordered, ordered[1:], strict=False):
            if later.cycle <= earlier.cycle:
                self.cycle_reuse.append(
                    f"round cycle={later.cycle} (run {later.run}) after cycle={earlier.cycle} "
                    f"(run {earlier.run})")

    def _database(self, lab: RestartLab) -> None:
        chain = [run.snapshot for run in lab.runs if run.snapshot is not None]
        for snap in chain:
            if snap.integrity != "ok":
                self.integrity.append(f"{snap.label}: {snap.integrity}")
        self._amounts(lab)
        for before, after in zip(chain, chain[1:], strict=False):
            self.lost += _regressions(before, after)
        for run in lab.runs:
            if run.snapshot is None:
                continue
            for trade_id, owner in lab.acknowledged.items():
                if owner == run.index and trade_id not in run.snapshot.trades:
                    self.lost.append(f"trade {trade_id} acknowledged by REST in run {run.index} "
                                     f"missing {run.snapshot.label}")
        if lab.final is not None:
            self.open_at_end = [f"order {o.id} {o.pair} {o.side} {o.status}"
                                for o in lab.final.orders.values() if o.is_open]

    def _amounts(self, lab: RestartLab) -> None:
        """A kill may land between freqtrade's fill commit and its fill processing: the
        snapshot after that kill may show the exit fill unapplied (counted, not a failure).
        The next start must reconcile it (``TRADE_RECONCILED ... trade_id=N``) and no later
        snapshot may show it; any other mismatch is a failure."""
        pending: dict[int, int] = {}  # trade id -> run whose kill left the fill unapplied
        for run in lab.runs:
            snap = run.snapshot
            if snap is None:
                continue
            for trade_id, kill in list(pending.items()):
                if kill + 1 != run.index:
                    continue
                if not re.search(rf"TRADE_RECONCILED: pair=\S+ trade_id={trade_id} ",
                                 run.tail.text):
                    self.unreconciled.append(f"run {run.index} did not reconcile trade "
                                             f"{trade_id} (exit fill unapplied at kill {kill})")
                del pending[trade_id]
            mismatches, unapplied = _amount_mismatches(snap)
            self.amount_mismatches += [text for _, text in mismatches]
            if run.killed:
                self.unapplied_fills += [text for _, text in unapplied]
                pending.update({trade_id: run.index for trade_id, _ in unapplied})
            else:  # a clean stop: everything applied
                self.amount_mismatches += [text for _, text in unapplied]
        self.unreconciled += [f"trade {trade_id}: exit fill unapplied at kill {kill}, no run "
                              "after it" for trade_id, kill in pending.items()]

    def _restarts(self, lab: RestartLab) -> None:
        stale: dict[tuple[str, int], int] = {}  # (pair, filled trim order) -> kill (run index)
        for previous, run in zip(lab.runs, lab.runs[1:], strict=False):
            snap = previous.snapshot
            if snap is None:
                continue
            state = snap.cap_state
            trims = snap.trims
            if state is not None:
                trim_state = state["trim_state"]
                if int(trim_state.get("attempted", 0)) < len(trims):
                    self.write_ahead.append(
                        f"kill {previous.index}: {len(trims)} trim orders in the database, "
                        f"persisted attempted={trim_state.get('attempted')}")
                open_trims = trim_state.get("open_trims", {})
                for order in trims:
                    if order.is_open and order.pair not in open_trims:
                        self.write_ahead.append(
                            f"kill {previous.index}: open trim order {order.id} {order.pair} "
                            "not in the persisted open_trims")
                for pair, trim in open_trims.items():
                    filled = [o for o in trims if o.pair == pair and not o.is_open
                              and o.filled > 0 and o.order_date >= float(trim["placed_at"]) - 1]
                    if filled and (pair, filled[-1].id) not in stale:
                        # The kill fell between the fill's commit and the state write.
                        stale[(pair, filled[-1].id)] = previous.index
            elif trims:
                self.write_ahead.append(
                    f"kill {previous.index}: {len(trims)} trim orders but no persisted state")
            text = run.tail.text
            reached_cap = "Metrics exporter listening" in text
            restored = _RESTORED.search(text)
            if reached_cap and state is not None:
                if restored is None:
                    self.restore.append(f"run {run.index}: no 'cap state restored' line")
                elif int(restored[1]) != int(state["cycle"]):
                    self.restore.append(f"run {run.index}: restored cycle={restored[1]}, "
                                        f"persisted cycle={state['cycle']}")
            if state is None and restored is not None:
                self.restore.append(f"run {run.index}: restored a state the kill did not leave")
            if run.pid_before is not None and "freqtrade 2026" in text:
                note = (f"stale PID file {lab.pid_file} (pid {run.pid_before} is not running): "
                        "replaced")
                if note not in text:
                    self.pid_file.append(f"run {run.index}: stale PID {run.pid_before} not "
                                         "reported as replaced")
            if run.up and run.pid_file_ok is False:
                self.pid_file.append(f"run {run.index}: PID file does not hold the bot's pid")
            if run.api_open_ids is not None:
                expected = snap.open_trades
                later = run.snapshot
                closed_since = {t for t in expected
                                if later is not None and t in later.trades
                                and not later.trades[t].is_open}
                missing = expected - run.api_open_ids - closed_since
                if missing:
                    self.api_view.append(f"run {run.index}: /status lacks open trades "
                                         f"{sorted(missing)} of the database at the kill")
        self.trim_kills = sum(1 for run in lab.runs
                              if run.moment is not None and run.moment.kind == "trim")
        self._retrims(lab, stale)

    def _retrims(self, lab: RestartLab, stale: dict[tuple[str, int], int]) -> None:
        """Open trims persisted at a kill whose order had already filled: the next restore must
        list them no longer (``cap state restored: ... open_trims=[...]``). One it keeps expires
        after the timeout as failed and is planned again; a re-trim of that pair before the
        bot is ACTIVE again is a trim re-placed although the one before the kill filled."""
        self.fill_windows = len(stale)
        final = lab.final or (lab.runs[-1].snapshot if lab.runs else None)
        resumed = [t for run in lab.runs for t, message in log_records(run.tail.text)
                   if "entries resume (lock lifted)" in message]
        resumed += [s.t for s in lab.sampler.samples if not s.reducing]
        for (pair, order_id), kill in sorted(stale.items(), key=lambda item: item[1]):
            restorer = next((run for run in lab.runs[kill + 1:]
                             if _RESTORED_TRIMS.search(run.tail.text)), None)
            if restorer is None:
                continue
            listed = _RESTORED_TRIMS.search(restorer.tail.text)
            assert listed is not None
            if pair not in listed[1]:
                continue
            self.stale_open_trims.append(
                f"kill {kill}: run {restorer.index} restored {pair} as an open trim although "
                f"order {order_id} had filled")
            killed_at = lab.runs[kill].ended or 0.0
            later = [o for o in (final.trims if final else []) if o.pair == pair
                     and o.order_date > killed_at]
            if not later:
                continue
            again = min(later, key=lambda o: o.order_date)
            if not any(killed_at < t < again.order_date for t in resumed):
                self.retrimmed_after_fill.append(
                    f"{pair}: order {again.id} re-trims it in the REDUCING episode in which "
                    f"order {order_id} had filled before the kill")

    def _at_risk(self, lab: RestartLab) -> None:
        samples = lab.sampler.samples
        steps = [_step(r, samples) for r in self.rounds]
        self.step = max(steps, default=0.0)
        limit = lab.cap + self.step
        windows = _excursion_windows(lab.rallies, samples, lab.cap)
        for sample in samples:
            self.at_risk_max = max(self.at_risk_max, sample.ratio)
            excursion = max((rally.excursion(sample.t) for rally in lab.rallies), default=0.0)
            self.excursion_max = max(self.excursion_max, excursion)
            bound = max(limit, excursion) + AT_RISK_TOLERANCE
            inside = any(start <= sample.t <= end for start, end in windows)
            if not inside:
                self.at_risk_max_outside = max(self.at_risk_max_outside, sample.ratio)
                bound = limit + AT_RISK_TOLERANCE
            if sample.ratio > bound:
                self.at_risk_violations.append(
                    f"run {sample.run} t+{sample.t - lab.began:.1f}s at_risk={sample.ratio:.2%} "
                    f"> {bound:.2%} ({'in' if inside else 'outside'} an excursion)")

    def failures(self) -> dict[str, list[str]]:
        return {name: items for name, items in {
            "double trims (same step twice)": self.double_steps,
            "replayed pre-kill steps": self.replayed_steps,
            "unplanned trims": self.unplanned_trims,
            "trims of one trade in flight at once": self.overlapping_trims,
            "over-sold rounds": self.oversold_rounds,
            RETRIMMED: self.retrimmed_after_fill,
            FILL_FORGOTTEN: self.stale_open_trims,
            "round cycle reused": self.cycle_reuse,
            "lost trades / orders": self.lost,
            "integrity_check": self.integrity,
            "amount != entries - exits": self.amount_mismatches,
            UNRECONCILED: self.unreconciled,
            "actions failed while the bot was up": self.action_failures,
            "orders open at the end": self.open_at_end,
            "write-ahead": self.write_ahead,
            "restore": self.restore,
            "PID file": self.pid_file,
            "REST view after restart": self.api_view,
            "at-risk over the bound": self.at_risk_violations,
            "tracebacks": self.tracebacks,
            "crashes / no trim round when due / unclean stop": self.crashes,
        }.items() if items}


def _excursion_windows(rallies: Iterable[Rally], samples: list[Sample],
                       cap: float) -> list[tuple[float, float]]:
    """From each rally's start until the first reading after its ramp that is ACTIVE again."""
    windows = []
    for rally in rallies:
        end = next((s.t for s in samples if s.t >= rally.start + rally.duration
                    and not s.reducing and s.ratio <= cap), math.inf)
        windows.append((rally.start, end))
    return windows


def _amount_mismatches(
    snap: DbSnapshot,
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(mismatches, stale fills): a stale fill is the signature of a kill between freqtrade
    committing an exit order's fill and applying it to the trade: the trade still holds
    exactly that order's amount on top of entries - exits."""
    found: list[tuple[int, str]] = []
    stale: list[tuple[int, str]] = []
    by_trade: dict[int, list[OrderRow]] = defaultdict(list)
    for order in snap.orders.values():
        by_trade[order.trade_id].append(order)
    for trade in snap.trades.values():
        orders = by_trade.get(trade.id, [])
        if any(o.is_open for o in orders):
            continue  # in flight: freqtrade settles the amount when the order closes
        entries = sum(o.filled for o in orders if o.side == "buy")
        exits = sum(o.filled for o in orders if o.side == "sell")
        held = entries - exits
        expected = trade.amount if trade.is_open else 0.0
        tolerance = AMOUNT_RTOL * max(entries, 1e-12)
        if abs(held - expected) <= tolerance:
            continue
        text = (f"{snap.label}: trade {trade.id} {trade.pair} amount={trade.amount:.10g} "
                f"entries-exits={held:.10g} open={trade.is_open}")
        unapplied = [o for o in orders if o.side == "sell" and o.filled > 0
                     and abs(expected - held - o.filled) <= tolerance]
        if unapplied:
            stale.append((trade.id,
                          f"{text} (order {unapplied[-1].id} filled, not applied to the trade)"))
        else:
            found.append((trade.id, text))
    return found, stale


def _regressions(before: DbSnapshot, after: DbSnapshot) -> list[str]:
    found = []
    for trade in before.trades.values():
        later = after.trades.get(trade.id)
        if later is None:
            found.append(f"trade {trade.id} {trade.pair} of {before.label} missing {after.label}")
        elif later.pair != trade.pair or (later.is_open and not trade.is_open):
            found.append(f"trade {trade.id} went from {trade} to {later}")
    for order in before.orders.values():
        later_order = after.orders.get(order.id)
        if later_order is None:
            found.append(f"order {order.id} {order.pair} of {before.label} missing {after.label}")
            continue
        if later_order.filled < order.filled * (1 - AMOUNT_RTOL):
            found.append(f"order {order.id} filled {order.filled} -> {later_order.filled}")
        if not order.is_open and (later_order.is_open or later_order.status != order.status):
            found.append(f"order {order.id} {order.status} -> {later_order.status} "
                         f"(open={later_order.is_open})")
    return found


# --------------------------------------------------------------------------- report
def kill_phase(run: RunRecord, rounds: list[Round]) -> str:
    """What the bot was doing when it was killed, from its log and the database it left."""
    if run.ended is None or not run.killed:
        return "-"
    text = run.tail.text
    at = f"start +{run.ended - run.started:.1f}s"
    if run.up_at is not None:
        at += f", up +{run.ended - run.up_at:.1f}s"
    if "Whitelist with" not in text:
        if "freqtrade 2026" not in text:
            return f"validation / imports ({at})"
        return f"freqtrade start-up ({at})"
    mine = [r for r in rounds if r.run == run.index and r.t <= run.ended]
    if mine and run.snapshot is not None:
        last = mine[-1]
        orders = [o for o in run.snapshot.trims if o.order_date >= last.t and o.pair in last.pairs]
        filled = sum(1 for o in orders if not o.is_open and o.filled > 0)
        if len(orders) < last.orders or run.ended - last.t < 1.0:
            return (f"round c={last.cycle} +{(run.ended - last.t) * 1000:.0f}ms: "
                    f"{len(orders)}/{last.orders} placed, {filled} filled ({at})")
    return f"running ({at})"


def render(lab: RestartLab, audit: Audit, title: str, wall: float) -> str:
    rounds = audit.rounds
    lines = [f"# {title}", "",
             f"seed `{lab.seed}` (`{SEED_ENV}`), {sum(r.killed for r in lab.runs)} kills, "
             f"wall time {wall:.0f} s, cap {lab.cap:.0%}, target {lab.target:.0%}, "
             f"trim timeout {TRIM_TIMEOUT_S} s", "",
             "| cycle | kill moment | phase at kill | trims at kill | trims next run | "
             "trades open/total | restored cycle | at-risk max | actions |",
             "|---|---|---|---|---|---|---|---|---|"]
    snaps = [run.snapshot for run in lab.runs]
    for i, run in enumerate(lab.runs):
        snap = run.snapshot
        prev = snaps[i - 1] if i else None
        trims_at = len(snap.trims) if snap else 0
        trims_next = "-"
        if i + 1 < len(snaps) and snaps[i + 1] is not None and snap is not None:
            trims_next = f"+{len(snaps[i + 1].trims) - trims_at}"  # type: ignore[union-attr]
        trades = f"{len(snap.open_trades)}/{len(snap.trades)}" if snap else "-"
        restored = _RESTORED.search(run.tail.text)
        risk = max((s.ratio for s in lab.sampler.samples if s.run == run.index), default=None)
        moment = run.moment.describe() if run.moment else "final (SIGTERM)"
        lines.append(
            f"| {i} | {moment} | {kill_phase(run, rounds)} | {trims_at} | {trims_next} | "
            f"{trades} | {restored[1] if restored else ('-' if prev is None else 'none')} | "
            f"{'-' if risk is None else f'{risk:.1%}'} | "
            f"{'; '.join(run.actions + run.notes).replace('|', '/')} |")
    probes = [p for p in lab.probes if p.conclusive]
    accepted = [p for p in probes if p.accepted]
    lines += ["", "## Totals", "",
              f"- kills: {sum(r.killed for r in lab.runs)} "
              f"({audit.trim_kills} right after a TRIM_ROUND line); trim rounds {len(rounds)}, "
              f"trim orders {audit.trim_orders}",
              f"- double trims: {audit.double_trims} (same step twice "
              f"{len(audit.double_steps)}, replayed pre-kill steps {len(audit.replayed_steps)}, "
              f"in flight at once {len(audit.overlapping_trims)}, re-trimmed after a fill the "
              f"restore forgot {len(audit.retrimmed_after_fill)}); unplanned trims "
              f"{len(audit.unplanned_trims)}; over-sold rounds {len(audit.oversold_rounds)}; "
              f"round cycle reused {len(audit.cycle_reuse)}",
              f"- lost trades/orders: {len(audit.lost)}; integrity failures "
              f"{len(audit.integrity)}; amount mismatches {len(audit.amount_mismatches)} "
              f"(+ {len(audit.unapplied_fills)} exit fills unapplied at a kill, "
              f"{len(audit.unreconciled)} of them not reconciled at the next start); "
              f"orders open at the end {len(audit.open_at_end)}; REST view mismatches "
              f"{len(audit.api_view)}",
              f"- write-ahead violations {len(audit.write_ahead)}; restore mismatches "
              f"{len(audit.restore)}; PID file problems {len(audit.pid_file)}; "
              f"kills between a trim fill and its state write {audit.fill_windows}, fills "
              f"the restore then missed {len(audit.stale_open_trims)}",
              f"- at-risk max {audit.at_risk_max:.2%} (price-driven excursion max "
              f"{audit.excursion_max:.2%}); outside excursions {audit.at_risk_max_outside:.2%}; "
              f"cap + step = {lab.cap:.0%} + {audit.step:.2%} = {lab.cap + audit.step:.2%}; "
              f"violations {len(audit.at_risk_violations)}; settled at the end: {lab.settled}",
              f"- force entries while REDUCING: {len(probes)} attempted, {len(accepted)} accepted",
              f"- tracebacks in bot logs: {len(audit.tracebacks)}; crashes / missing rounds / "
              f"unclean stops: {len(audit.crashes)}; actions failed while the bot was up: "
              f"{len(audit.action_failures)}"]
    details = audit.failures()
    if details:
        lines += ["", "## Findings", ""]
        for name, items in details.items():
            lines.append(f"- **{name}**: " + "; ".join(items[:20]))
    return "\n".join(lines) + "\n"


def write_report(text: str, name: str) -> Path:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / name
    path.write_text(text)
    return path
