"""Fixtures for the web console tests: a real server with auth on, Debian's Chromium driven by
Playwright (never a downloaded browser), a page that fails its test on any browser error and
leaves a screenshot behind."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    return next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where tests leave screenshots: TIMEWELL_SCREENSHOT_DIR (docs/console/ to refresh the
    documentation's set), else a temporary directory."""
    folder = os.environ.get("TIMEWELL_SCREENSHOT_DIR")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium not found (apt-get install chromium): the console's browser "
                    "tests need it")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable,
                                             args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def console_server(tmp_path_factory):
    """A server with auth on and a plugin directory, shared by a module's tests."""
    root = tmp_path_factory.mktemp("console")
    plugins = root / "plugins"
    plugins.mkdir()
    server = ServerProcess(root / "data", "--plugin-dir", str(plugins), auth=True).start()
    created = httpx.post(f"{server.url}/api/v3/configure/token/admin", timeout=30)
    assert created.status_code == 201, created.text
    server.token = created.json()["token"]
    server.plugins = plugins
    yield server
    if server.process and server.process.poll() is None:
        server.stop(signal.SIGKILL)


class BrowserProblems(list):
    """Errors the browser reported while a test ran."""

    def watch(self, page) -> None:
        def on_console(message) -> None:
            if message.type != "error":
                return
            url = (message.location or {}).get("url", "")
            # a refused token, a bad line, a bad query: answers the test asked for, which the
            # page shows; the browser logs every 4xx fetch as well
            if message.text.startswith("Failed to load resource") and "/api/" in url:
                return
            self.append(f"console: {message.text} ({url})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.append(f"page error: {error}"))
        page.on("response", lambda r: self.append(f"404: {r.url}") if r.status == 404 else None)


# In screenshots, the test run's temporary directory (shown as the plugin directory and the
# object store) reads as this.
SHOWN_ROOT = "/srv"

REDACT = """([prefix, shown]) => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.data.includes(prefix)) node.data = node.data.replaceAll(prefix, shown);
  }
}"""


@pytest.fixture
def page(browser, request, screenshots, tmp_path_factory):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems = BrowserProblems()
    problems.watch(page)
    base = str(tmp_path_factory.getbasetemp())

    def shot(name: str) -> None:
        page.evaluate(REDACT, [base, SHOWN_ROOT])
        page.screenshot(path=str(screenshots / f"{name}.png"))

    page.shot = shot
    yield page
    page.shot(request.node.name.removeprefix("test_"))
    context.close()
    assert not problems, problems


def sign_in(page, server) -> None:
    page.goto(f"{server.url}/ui/")
    page.get_by_label("Token").fill(server.token)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#main").wait_for()
