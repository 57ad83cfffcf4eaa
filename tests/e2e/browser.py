"""FreqUI in Debian's Chromium for the browser end-to-end test (tests/e2e/test_frequi.py).

- FreqUI itself comes from ``../shared/frequi/frequi-dist.zip`` (a build of freqtrade/frequi;
  ``freqtrade install-ui`` downloads from GitHub, which this offline set-up cannot reach). It is
  unzipped into freqtrade's ``rpc/api_server/ui/installed`` of this venv, as ``install-ui`` does,
  and never committed. Without the zip (a user's clone) the test skips with one line.
- The browser is ``/usr/bin/chromium`` (``make chromium``), driven by Playwright's Python package
  with ``executable_path``: the wheel bundles Playwright's driver, and ``playwright install``
  (which downloads a browser build of its own) is never run.
- Requests that leave the loopback (FreqUI's icon CDN) are aborted at once instead of waiting for
  a network this machine does not have: icon-only buttons stay blank, so the test finds them by
  title, role or FreqUI's element ids, never by icon.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, Route, sync_playwright

from tests.e2e.support import REPO
from tests.parallel import locked

FREQUI_ZIP = REPO.parent / "shared" / "frequi" / "frequi-dist.zip"
CHROMIUM = Path("/usr/bin/chromium")
# What the closed network needs: no QUIC, no background fetches (component updates, sync, field
# trials) and a fresh profile per run. Playwright adds --headless itself (headless=True).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1400}
LOOPBACK = re.compile(r"^(https?|wss?)://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/")


def require_frequi() -> Path:
    """The FreqUI build, or skip (a clone without ``../shared``); no Chromium fails with the
    make target that installs it (``make test`` does)."""
    if not FREQUI_ZIP.is_file():
        pytest.skip(f"FreqUI browser test needs a FreqUI build at {FREQUI_ZIP} (../shared/frequi)")
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package; "
                    "make test installs it)", pytrace=False)
    return FREQUI_ZIP


def install_frequi(build: Path) -> Path:
    """Unzip ``build`` where freqtrade serves its UI, once per build (idempotent: the build's
    hash is written last to ``.uiversion``, so an interrupted unzip is redone)."""
    import freqtrade.rpc.api_server as api_server
    from freqtrade.commands.deploy_ui import clean_ui_subdir, read_ui_version

    target = Path(api_server.__file__).parent / "ui" / "installed"
    version = "frequi-dist " + hashlib.sha256(build.read_bytes()).hexdigest()[:16]
    # One venv, possibly several test workers or sessions: one unzips, the others wait for it.
    with locked(target.parent / ".trader247-install.lock"):
        if read_ui_version(target) == version and (target / "index.html").is_file():
            return target
        return _unzip(build, target, version, clean_ui_subdir)


def _unzip(build: Path, target: Path, version: str, clean: Callable[[Path], None]) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    clean(target)
    root = target.resolve()
    with zipfile.ZipFile(build) as archive:
        for member in archive.infolist():
            path = (root / member.filename).resolve()
            if not path.is_relative_to(root):
                raise AssertionError(f"{build}: path outside the UI folder: {member.filename}")
            if member.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, path.open("wb") as sink:
                shutil.copyfileobj(source, sink)
    (target / ".uiversion").write_text(version)
    return target


def _offline(route: Route) -> None:
    if LOOPBACK.match(route.request.url):
        route.continue_()
    else:
        route.abort("internetdisconnected")


@dataclass
class Screen:
    """One browser page and where its screenshots go; every failure names the last one."""

    page: Page
    shots: Path
    taken: int = 0

    def shot(self, name: str, *, full_page: bool = False) -> Path:
        self.taken += 1
        path = self.shots / f"{self.taken:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def fail(self, what: str, scope: Locator | None = None) -> AssertionError:
        path = self.shot("failure", full_page=True)
        try:
            text = (scope or self.page.locator("body")).inner_text(timeout=5_000)
        except Exception as exc:  # the page itself may be what failed
            text = f"<page text unavailable: {exc}>"
        return AssertionError(f"{what}\nscreenshot: {path}\nurl: {self.page.url}\n"
                              f"page text (last 3000 chars):\n{text[-3000:]}")

    def wait_text(self, scope: Locator, pattern: str, *, timeout: float, what: str,
                  refresh: Callable[[], None] | None = None) -> re.Match[str]:
        """Poll ``scope``'s text for ``pattern`` every 0.5 s (``refresh`` every 3 s); content,
        never a fixed sleep, decides when the page is ready."""
        deadline = time.monotonic() + timeout
        refreshed = time.monotonic()
        while time.monotonic() <= deadline:
            try:
                text = scope.inner_text(timeout=2_000)
            except Exception:  # not rendered yet: an element FreqUI has not mounted
                text = ""
            found = re.search(pattern, text)
            if found:
                return found
            if refresh is not None and time.monotonic() - refreshed >= 3.0:
                refresh()
                refreshed = time.monotonic()
            self.page.wait_for_timeout(500)
        raise self.fail(f"timed out after {timeout}s waiting for {what} (/{pattern}/)", scope)


@contextmanager
def chromium_page(tmp_path: Path) -> Iterator[Screen]:
    """Debian's Chromium, headless, a fresh profile under ``tmp_path``, loopback only."""
    shots = tmp_path / "screenshots"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport=VIEWPORT)  # type: ignore[arg-type]
        try:
            context.route("**/*", _offline)
            context.set_default_timeout(60_000)  # generous: the machine may be loaded
            page = context.pages[0] if context.pages else context.new_page()
            screen = Screen(page, shots)
            try:
                yield screen
            except PlaywrightError as exc:  # a click or fill that timed out: show the page
                raise screen.fail(f"browser step failed: {exc.message}") from exc
        finally:
            context.close()
