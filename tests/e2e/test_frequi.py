"""FreqUI in a real browser shows the at-risk cap ([V] 4b).

A dry-run bot as ``make demo`` runs it (``trader247 run``, the bundled config, the REST API that
serves FreqUI) holds four positions; the test logs in through FreqUI's own form in Debian's
Chromium, the replay's price script pushes the book over the cap, and the operator's two views
must show it: the cap's global ``*`` lock with its reason under Trade -> Pair Locks, and the trim
(an order tagged ``trim``) in the trade's orders. Screenshots go to ``<tmp_path>/screenshots``;
the README's ``docs/img/frequi-cap-lock.png`` is the last one (``04-lock-and-trim.png``).

The policy trims one order every 1000 iterations: after the first trim round the bot stays
REDUCING (the lock stays) for as long as the test looks at it, whatever the machine's load.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.browser import Screen, chromium_page, install_frequi, require_frequi
from tests.e2e.live import wait_for
from tests.e2e.support import PAIRS, PASSWORD, USER, Bot, Replay, enter, http, policy_file
from trader247.cli.processes import free_port

pytestmark = pytest.mark.e2e

BOT_NAME = "247trader-demo"  # config/config.json's bot_name, shown in FreqUI's top bar
# FreqUI's order line in a trade's detail: "sell for <price> | <filled> | <ft_order_tag>"
TRIM_ORDER_LINE = r"sell\s+for\s+[\d.,]+\s*\|\s*[\d.,]+\s*\|\s*trim\b"


def log_in(screen: Screen, bot: Bot) -> None:
    """FreqUI's login form, filled as a person would (the API URL is the page's own origin)."""
    page = screen.page
    page.goto(f"{bot.api}/")
    page.get_by_role("button", name="Login", exact=True).click()
    form = page.locator("form").filter(has=page.get_by_label("Password"))
    form.get_by_label("API Url").fill(bot.api)
    form.get_by_label("Username").fill(USER)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Submit").click()
    screen.wait_text(page.locator("body"), re.escape(BOT_NAME), timeout=60,
                     what="the bot's name in the top bar after logging in")
    page.keyboard.press("Escape")  # the bot selector may have opened over the navigation
    screen.shot("logged-in")


def open_trade_view(screen: Screen) -> None:
    page = screen.page
    page.get_by_role("link", name="Trade", exact=True).click()
    body = page.locator("body")
    for pair in PAIRS:
        screen.wait_text(body, rf"Open Trades[\s\S]*\b\d+\s+{re.escape(pair)}\b", timeout=60,
                         what=f"{pair} in FreqUI's Open Trades")
    screen.shot("open-trades")


def refresher(screen: Screen) -> Any:
    """FreqUI reloads locks on its slow timer; a person clicks "refresh all bots now"."""
    button = screen.page.get_by_title("Auto Refresh all bots now")
    return lambda: button.click()


LOCK_REASON = re.compile(r"EXPOSURE_OVER_CAP: at_risk=(\d+\.\d)% cap=25\.0% target=23\.0%")


def over_the_cap(bot: Bot, replay: Replay) -> tuple[dict[str, Any], str]:
    """Double every price; returns the cap's lock and the pair of the first trim, as the bot's
    REST API reports them (a failure here is the bot's, not FreqUI's)."""
    http("POST", f"{replay.url}/_replay/price_script",
         {"duration_s": 1, "from_multiplier": 1.0, "to_multiplier": 2.0}, auth=False)

    def cap_lock() -> dict[str, Any] | None:
        return next((lock for lock in bot.get("locks")["locks"]
                     if lock["reason"].startswith("EXPOSURE_OVER_CAP: ")), None)

    def trimmed_pair() -> str | None:
        return next((trade["pair"] for trade in bot.get("status") for order in trade["orders"]
                     if order["ft_order_tag"] == "trim" and order["status"] == "closed"), None)

    lock = wait_for(cap_lock, 90, f"the cap's lock in /locks; log tail:\n"
                                  f"{bot.log.read_text()[-2000:]}")
    pair = wait_for(trimmed_pair, 90, "a filled trim order in /status")
    assert lock["pair"] == "*" and lock["active"], lock
    reason = LOCK_REASON.fullmatch(lock["reason"])
    assert reason is not None and float(reason.group(1)) > 25.0, lock
    return lock, pair


@pytest.fixture(scope="session")
def frequi() -> Path:
    """FreqUI installed in this venv; first in the test's arguments so that a clone without
    ../shared skips before any process is started."""
    return install_frequi(require_frequi())


def test_frequi_shows_the_cap_lock_and_the_trim_order(
        frequi: Path, tmp_path: Path, replay: Replay, start_bot: Any) -> None:
    policy = policy_file(tmp_path, port=free_port(), trim_interval_cycles=1000,
                         max_trims_per_cycle=1)
    bot = start_bot(replay, policy)
    enter(bot, 50.0)  # 4 x $50 of $1000: 20 % at risk, under the 23 % target
    with chromium_page(tmp_path) as screen:
        log_in(screen, bot)
        open_trade_view(screen)
        lock, pair = over_the_cap(bot, replay)

        page = screen.page
        page.locator('[role=tab][id$="-trigger-pair-locks"]').click()
        panel = page.locator('[role=tabpanel][id$="-content-pair-locks"]')
        # The reason shows the current at-risk (it follows the book), so match its form.
        screen.wait_text(
            panel, rf"(?m)^\*\s+\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\s+{LOCK_REASON.pattern}",
            timeout=60, what="the cap's * lock and its reason in Pair Locks",
            refresh=refresher(screen))
        assert "Pair Locks" in panel.inner_text(), panel.inner_text()
        screen.shot("pair-locks")

        page.get_by_role("cell", name=pair, exact=True).first.click()
        page.get_by_text(re.compile(r"^Orders \[\d+\]$")).click()
        screen.wait_text(page.locator("body"), TRIM_ORDER_LINE, timeout=60,
                         what=f"the trim order of {pair} in its trade's orders")
        # FreqUI puts "<side> <type> order for <amount> <base> at <price>, filled <amount>" in
        # each order line's title.
        trim = page.locator('[title^="sell "]').filter(has_text=re.compile(r"\|\s*trim\s*$"))
        trim.first.scroll_into_view_if_needed()
        title = trim.first.get_attribute("title") or ""
        if not re.fullmatch(r"sell market order for [\d.,]+ \w+ at [\d.,]+ USD, filled [\d.,]+",
                            title):
            raise screen.fail(f"the trim's order line does not say it filled: {title!r}")
        # FreqUI announces the trim only as a generic "Exit fill" toast; it covers the order
        # line for a few seconds, so the last screenshot waits for it to go (not a failure).
        with contextlib.suppress(PlaywrightTimeout):
            page.get_by_text("Notification", exact=True).last.wait_for(state="hidden",
                                                                       timeout=20_000)
        screen.shot("lock-and-trim")
