"""Fleet end to end: real ``freqtrade trade`` processes (dry-run, through ``trader247 run``)
sharing one PostgreSQL fleet database and one cap.

- racing ``/forceenter`` calls from three bots: the account's at-risk, sampled from the fleet
  tables all along, never exceeds the cap plus one entry's stake;
- a second bot with another cap refuses to join (exit code != 0, both values named);
- ``fleet.enabled`` with freqtrade's SQLite database refuses to start, naming the key.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.live import live_bots, live_replay_factory  # noqa: F401 - fixtures
from tests.e2e.support import PAIRS, Bot, Replay, enter, launch_bot, policy_file, wait_for_log
from tests.shipped import shipped_cap_policy
from trader247.cli.processes import stop
from trader247.core.exposure import Position, Snapshot, measure
from trader247.core.fleet import Member, Reservation, fleet_snapshot

pytestmark = pytest.mark.e2e

STAKE = 20.0  # one force entry; dry_run_wallet 1000 per bot -> a $3000 simulated account


def fleet_policy(folder: Path, fleet_url: str | None, *, cap: float = 25.0,
                 lease: float = 10.0, metrics_port: int | None = None,
                 trims: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = policy_file(folder, max_total_at_risk_pct=cap)
    body = path.read_text()
    body, count = re.subn(r"\nfleet:\n  enabled: false\n", "\nfleet:\n  enabled: true\n", body)
    assert count == 1
    body = body.replace("  db_url: null\n", f"  db_url: {fleet_url or 'null'}\n")
    body = body.replace("  lease_seconds: 30.0\n", f"  lease_seconds: {lease}\n")
    if metrics_port is None:  # three exporters on one port would clash
        body = re.sub(r"\nmetrics:\n  enabled: true\n", "\nmetrics:\n  enabled: false\n", body)
    else:
        body = body.replace("\n  port: 9090\n", f"\n  port: {metrics_port}\n")
    if not trims:
        body, count = re.subn(r"(\ntrims:\n  #[^\n]*\n  enabled:) true", r"\1 false", body)
        assert count == 1
    path.write_text(body)
    return path


@pytest.fixture
def fleet_bots(tmp_path: Path) -> Iterator[Callable[..., Bot]]:
    """Bots in folders of their own (config, log, PID file); all stopped at the end."""
    started: list[Bot] = []

    def start(replay: Replay, name: str, fleet_url: str | None, **kwargs: Any) -> Bot:
        folder = tmp_path / name
        policy = fleet_policy(folder, fleet_url, **kwargs.pop("policy", {}))
        extra = {"bot_name": name, **kwargs.pop("extra", {})}
        bot = launch_bot(folder, replay, policy, name=name, extra=extra, **kwargs)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        stop(bot.process, grace=10.0)


def account_at_risk(url: str) -> tuple[float, int]:
    """The fleet's account from its tables (at-risk %, members), as the bots measure it."""
    import json

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            now = float(c.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())"))
                        .scalar_one())
            rows = c.execute(text("SELECT bot, cap_pct, positions, reported_at, stake_balance "
                                  "FROM trader247_fleet_member")).all()
            held = c.execute(text("SELECT bot, pair, stake, expires_at FROM "
                                  "trader247_fleet_reservation")).all()
    finally:
        engine.dispose()
    members = [Member(b, cap, tuple(Position(*p) for p in json.loads(body)), at)
               for b, cap, body, at, _ in rows]
    balance = sum(float(r[4]) for r in rows)  # dry-run: the sum of the simulated wallets
    snapshot: Snapshot = fleet_snapshot(balance, members,
                                        [Reservation(*r) for r in held], now)
    return measure(snapshot, shipped_cap_policy()).at_risk_pct, len(members)


def race_sampled(bots: list[Bot], race: Callable[[Bot], None], measure_pct: Callable[[], float],
                 *, every_s: float) -> list[float]:
    """Run ``race`` for every bot at once while sampling ``measure_pct`` every ``every_s``; the
    samples until 3 s after the last racer (the last entries reach the bots' next reports)."""
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(measure_pct())
            time.sleep(every_s)

    sampler = threading.Thread(target=sample)
    sampler.start()
    racers = [threading.Thread(target=race, args=(bot,)) for bot in bots]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    time.sleep(3)
    done.set()
    sampler.join()
    return samples


@pytest.mark.slow
def test_racing_force_entries_of_three_bots_keep_one_account_cap(
        replay: Replay, postgres_url: str, fleet_bots: Callable[..., Bot]) -> None:
    bots = [fleet_bots(replay, name, postgres_url) for name in ("alpha", "beta", "gamma")]
    cap = shipped_cap_policy().max_total_at_risk_pct

    def race(bot: Bot) -> None:
        for i in range(70):  # 3 x 70 = 210 racing entries (new trades and increases)
            # A refused entry answers an HTTP error.
            with contextlib.suppress(urllib.error.HTTPError):
                bot.post("forceenter", {"pair": PAIRS[i % len(PAIRS)], "stakeamount": STAKE})

    samples = race_sampled(bots, race, lambda: account_at_risk(postgres_url)[0], every_s=0.2)
    final, members = account_at_risk(postgres_url)
    step = 100.0 * STAKE / 3000.0
    print(f"fleet race: {len(samples)} samples, max at-risk {max(samples):.2f} %, final "
          f"{final:.2f} %, cap {cap:g} % + step {step:.2f}")
    assert members == 3
    assert samples and max(samples) <= cap + step, (max(samples), cap, step)
    assert final <= cap + step
    # The race did fill the account (reservations of entries in flight hold headroom back until
    # the next report, so the end may sit somewhat under the 23 % target).
    assert final >= 15.0, final
    held = [sum(t["stake_amount"] for t in bot.get("status")) for bot in bots]
    assert sum(held) <= (cap + step) / 100 * 3000 * 1.05, held
    # The fleet's refusals are told (README "What the operator sees"): the race used to refuse
    # ~165 entries with no FLEET_OVER_CAP line at all (DEBUG only).
    refused = sum(bot.log.read_text().count(" - WARNING - ENTRY_REFUSED FLEET_OVER_CAP: ")
                  for bot in bots)
    assert refused > 0


def test_a_bot_with_another_cap_refuses_to_join_naming_both(
        replay: Replay, postgres_url: str, fleet_bots: Callable[..., Bot]) -> None:
    fleet_bots(replay, "alpha", postgres_url)
    other = fleet_bots(replay, "beta", postgres_url, policy={"cap": 20.0}, wait=False)
    code = other.process.wait(timeout=120)
    log = other.log.read_text()
    assert code == 2, (code, log[-2000:])
    assert "'beta' runs max_total_at_risk_pct 20" in log, log[-2000:]
    assert "'alpha' runs 25" in log


def test_fleet_with_freqtrades_sqlite_database_refuses_to_start(
        replay: Replay, fleet_bots: Callable[..., Bot]) -> None:
    bot = fleet_bots(replay, "alpha", None, wait=False)
    code = bot.process.wait(timeout=120)
    log = bot.log.read_text()
    assert code == 2, (code, log[-2000:])  # freqtrade's OperationalException exit
    assert "fleet.db_url null" in log and "must be PostgreSQL" in log and "'sqlite'" in log, \
        log[-2000:]


def trims_of(url: str) -> list[tuple[str, str, int, bool]]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return [(str(b), str(p), int(t), taken is not None) for b, p, t, taken in c.execute(
                text("SELECT bot, pair, term, taken_at FROM trader247_fleet_trim ORDER BY id"))]
    finally:
        engine.dispose()


def fill_over_the_cap(replay: Replay, url: str, fleet_bots: Callable[..., Bot]) -> None:
    """alpha and beta fill 4 x $100 each under an 80 % cap (40 % of $2000), then stop."""
    loose = [fleet_bots(replay, name, url, policy={"cap": 80.0}, wait=False)
             for name in ("alpha", "beta")]
    for bot in loose:
        wait_for_log(bot.log, r"Whitelist with \d+ pairs", timeout=120, process=bot.process)
        enter(bot, 100.0)
    for bot in loose:
        assert stop(bot.process, grace=10.0) == 0  # a clean stop leaves the fleet at once
    # 40 %, plus reservations of the last entries until their lease ends (never released by a
    # later report of the stopped bot).
    assert 38.0 <= account_at_risk(url)[0] <= 62.0


@pytest.mark.slow
def test_an_over_cap_fleet_start_is_trimmed_by_each_bot_on_its_own_trades(
        replay: Replay, postgres_url: str, fleet_bots: Callable[..., Bot]) -> None:
    """Two bots filled under an 80 % cap (40 % of the $2000 account), restarted at 25 %: the
    leader plans, each bot trims its own trades, every published trim taken once."""
    fill_over_the_cap(replay, postgres_url, fleet_bots)

    strict = [fleet_bots(replay, name, postgres_url, wait=False) for name in ("alpha", "beta")]
    for bot in strict:
        wait_for_log(bot.log, r"fleet: \d+ trim\(s\) of this bot's trades taken", timeout=120,
                     process=bot.process)
    deadline = time.monotonic() + 120
    while account_at_risk(postgres_url)[0] > 25.0 and time.monotonic() < deadline:
        time.sleep(1)
    at_risk = account_at_risk(postgres_url)[0]
    assert at_risk <= 25.0, at_risk
    published = trims_of(postgres_url)
    assert {bot for bot, *_ in published} == {"alpha", "beta"}
    taken = [(bot, pair, term) for bot, pair, term, done in published if done]
    assert len(taken) == len(set(taken)), taken  # never one trim handed out twice
    leaders = [b.log.read_text().count("round of") for b in strict]
    assert sum(1 for n in leaders if n) == 1, leaders  # one bot planned, the other followed
    for bot in strict:
        log = bot.log.read_text()
        assert "Traceback" not in log


def test_fleet_database_unreachable_at_start_refuses_with_one_message(
        replay: Replay, fleet_bots: Callable[..., Bot]) -> None:
    from trader247.cli.processes import free_port

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/fleet?connect_timeout=2"
    bot = fleet_bots(replay, "alpha", url, wait=False)
    code = bot.process.wait(timeout=120)
    log = bot.log.read_text()
    assert code == 2, (code, log[-2000:])
    assert "247trader fleet: " in log and "fleet.db_url: fleet database unreachable" in log
    assert "Traceback" not in log


# --- live mode on the replay: three API keys of ONE exchange account ---------------------------

LIVE_PAIRS = ("BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD")


def exchange_at_risk(replay: Any) -> float:
    """The account's at-risk %, from the exchange's own balances at the best bids."""
    balances = {c: float(v) for c, v in replay.account("live")["balances"].items()}
    held = sum(amount * replay.best(f"{c}-USD")[0] for c, amount in balances.items()
               if c != "USD" and amount)
    equity = balances.get("USD", 0.0) + held
    return 100.0 * held / equity if equity else 0.0


@pytest.mark.slow
def test_live_racing_force_entries_of_three_keys_keep_the_account_under_the_cap(
        tmp_path: Path, postgres_url: str,
        live_replay_factory: Any, live_bots: Any) -> None:  # noqa: F811
    replay = live_replay_factory(accounts={"live": {"USD": "3000"}}, keys_per_account=3)
    bots = []
    for i, name in enumerate(("alpha", "beta", "gamma")):
        policy = fleet_policy(tmp_path / name, postgres_url)
        extra = {
            "bot_name": name, "stake_amount": "unlimited",
            "order_types": {"entry": "market", "exit": "market", "emergency_exit": "market",
                            "force_entry": "market", "force_exit": "market",
                            "stoploss": "market", "stoploss_on_exchange": False},
            "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                           "policy_file": str(policy),
                           "universe_file": str(tmp_path / name / "universe.yaml")}],
            "max_open_trades": len(LIVE_PAIRS),
        }
        (tmp_path / name / "universe.yaml").write_text(
            (Path(__file__).resolve().parents[2] / "config" / "universe.yaml").read_text())
        bots.append(live_bots(replay, replay.keys[i], name=name, strategy="CapProbeStrategy",
                              extra=extra))
    cap = shipped_cap_policy().max_total_at_risk_pct

    def race(bot: Bot) -> None:
        for i in range(70):  # 3 x 70 = 210 racing entries (new trades and increases)
            with contextlib.suppress(urllib.error.HTTPError):
                bot.post("forceenter", {"pair": LIVE_PAIRS[i % len(LIVE_PAIRS)],
                                        "stakeamount": STAKE})
            # Live, freqtrade refuses a pair whose last order it has not yet seen filled (its
            # next loop): spread the race over the bots' loops.
            time.sleep(0.15)

    samples = race_sampled(bots, race, lambda: exchange_at_risk(replay), every_s=0.3)
    final = exchange_at_risk(replay)
    filled = sum(bot.log.read_text().count("MARKET_BUY has been fulfilled") for bot in bots)
    step = 100.0 * STAKE / 3000.0
    print(f"live fleet race: {filled} entries filled, {len(samples)} samples from the exchange, "
          f"max at-risk "
          f"{max(samples):.2f} %, final {final:.2f} %, cap {cap:g} % + step {step:.2f}")
    assert max(samples) <= cap + step, (max(samples), cap, step)
    assert final >= 15.0, final
    for bot in bots:
        assert "Traceback" not in bot.log.read_text()


@pytest.mark.slow
def test_kill_9_of_the_leader_mid_round_another_bot_leads_within_the_lease(
        replay: Replay, postgres_url: str, fleet_bots: Callable[..., Bot]) -> None:
    fill_over_the_cap(replay, postgres_url, fleet_bots)
    lease = 5.0
    strict = {name: fleet_bots(replay, name, postgres_url, wait=False, policy={"lease": lease})
              for name in ("alpha", "beta")}
    deadline = time.monotonic() + 120
    leader = None
    while leader is None and time.monotonic() < deadline:
        leader = next((n for n, b in strict.items()
                       if "fleet: round of" in (b.log.read_text() if b.log.exists() else "")),
                      None)
        time.sleep(0.1)
    assert leader is not None, "no round published"
    strict[leader].process.kill()  # -9, right after its first round
    strict[leader].process.wait(timeout=10)
    killed_at = time.monotonic()
    survivor_name = next(n for n in strict if n != leader)
    survivor = strict[survivor_name]
    wait_for_log(survivor.log, r"fleet: round of", timeout=lease + 30, process=survivor.process)
    took_over = time.monotonic() - killed_at
    deadline = time.monotonic() + 120
    while account_at_risk(postgres_url)[0] > 25.0 and time.monotonic() < deadline:
        time.sleep(1)
    at_risk = account_at_risk(postgres_url)[0]
    print(f"leader {leader} killed: {survivor_name} published a round {took_over:.1f} s later "
          f"(lease {lease:g} s); account at-risk {at_risk:.2f} %")
    assert took_over <= lease + 15.0
    assert at_risk <= 25.0
    published = trims_of(postgres_url)
    taken = [(bot, pair, term) for bot, pair, term, done in published if done]
    assert len(taken) == len(set(taken)), taken
    # After the kill, no trim of the dead leader's trades was planned (nobody would sell them).
    terms = {term for bot, _, term, _ in published if bot == survivor_name}
    later = [row for row in published if row[2] == max(terms) and row[0] == leader]
    assert later == [], later
    survivor_log = survivor.log.read_text()
    fills = survivor_log.count("trim filled")
    assert fills <= sum(1 for bot, *_, done in published if bot == survivor_name and done)
    assert "Traceback" not in survivor_log


@pytest.mark.slow
def test_fleet_database_lost_while_running_fails_closed_and_recovers(
        replay: Replay, postgres_cluster: Any, postgres_url: str,
        fleet_bots: Callable[..., Bot]) -> None:
    """Entries refused while the fleet database is gone (one warning), exits go on; entries
    resume once it answers again."""
    from trader247.adapters.fleet_store import FleetStore
    from trader247.core.fleet import FleetPolicy

    bot = fleet_bots(replay, "alpha", postgres_url)
    bot.post("forceenter", {"pair": "BTC/USD", "stakeamount": STAKE})
    wait_for_log(bot.log, r"MARKET_BUY has been fulfilled", timeout=30, process=bot.process)
    postgres_cluster.drop_database(postgres_url.rsplit("/", 1)[1])
    wait_for_log(bot.log, r"FLEET_UNAVAILABLE: ", timeout=30, process=bot.process)
    with contextlib.suppress(urllib.error.HTTPError):
        bot.post("forceenter", {"pair": "ETH/USD", "stakeamount": STAKE})
    time.sleep(3)  # a few loops without the database
    assert [t["pair"] for t in bot.get("status")] == ["BTC/USD"]
    trade_id = bot.get("status")[0]["trade_id"]
    bot.post("forceexit", {"tradeid": str(trade_id)})  # exits go on
    deadline = time.monotonic() + 30
    while bot.get("status") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert bot.get("status") == []
    log = bot.log.read_text()
    assert log.count("WARNING - FLEET_UNAVAILABLE: ") == 1, log[-3000:]
    # The database is back (empty: the tables are created again by a store connecting).
    postgres_cluster.create_database(postgres_url.rsplit("/", 1)[1])
    FleetStore.connect(postgres_url, FleetPolicy("main", 10.0)).dispose()
    wait_for_log(bot.log, r"FLEET_AVAILABLE again", timeout=30, process=bot.process)
    bot.post("forceenter", {"pair": "ETH/USD", "stakeamount": STAKE})
    assert [t["pair"] for t in bot.get("status")] == ["ETH/USD"]
    assert "Traceback" not in bot.log.read_text()



@pytest.mark.slow
def test_a_real_prometheus_scraping_the_fleet_fires_the_over_cap_alert(
        tmp_path: Path, replay: Replay, postgres_url: str,
        fleet_bots: Callable[..., Bot]) -> None:
    """Prometheus (Debian's package) with our prometheus.yml and alerts.yml scrapes two fleet
    members held over the cap (trims off): Trader247FleetOverCap fires, once for the fleet.

    Test-only changes to the shipped files: the targets, 1 s intervals, and the rule's
    ``for: 10m`` shortened to ``for: 0s`` (the 10 minutes are pinned by promtool tests)."""
    import json
    import shutil
    import subprocess
    import urllib.request

    import yaml

    from tests.e2e.support import REPO
    from trader247.cli.processes import free_port

    fill_over_the_cap(replay, postgres_url, fleet_bots)
    ports = {"alpha": free_port(), "beta": free_port()}
    for name, port in ports.items():
        fleet_bots(replay, name, postgres_url, wait=False,
                   policy={"metrics_port": port, "trims": False})
    prometheus_dir = REPO / "monitoring" / "prometheus"
    rules = (prometheus_dir / "alerts.yml").read_text()
    over_cap = rules.index("alert: Trader247FleetOverCap")
    rules = rules[:over_cap] + rules[over_cap:].replace("for: 10m", "for: 0s", 1)
    (tmp_path / "alerts.yml").write_text(rules)
    config = yaml.safe_load((prometheus_dir / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    bot_job = next(job for job in config["scrape_configs"] if job["job_name"] == "bot")
    bot_job["static_configs"] = [{"targets": [f"127.0.0.1:{p}" for p in ports.values()]}]
    config["scrape_configs"] = [bot_job]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    web = free_port()
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package (make promtool) is missing"
    log = (tmp_path / "prometheus.log").open("w")
    server = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{web}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        firing: list[dict[str, Any]] = []
        while not firing and time.monotonic() < deadline:
            time.sleep(1)
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{web}/api/v1/alerts",
                                            timeout=5) as response:
                    alerts = json.loads(response.read())["data"]["alerts"]
                firing = [a for a in alerts if a["labels"]["alertname"] ==
                          "Trader247FleetOverCap" and a["state"] == "firing"]
        assert firing, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert len(firing) == 1 and firing[0]["labels"]["fleet"] == "main", firing
        print(f"prometheus: {firing[0]['annotations']['description']}")
    finally:
        stop(server, grace=10.0)
