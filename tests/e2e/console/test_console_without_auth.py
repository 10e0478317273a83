"""A server started with --without-auth: the console opens with no sign-in."""

from __future__ import annotations

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="Playwright not installed "
                             "(pip install -e '.[test]')").expect


def test_without_auth_the_console_opens_directly(page, make_server):
    server = make_server()
    assert server.write("cpu,host=a usage=1", db="metrics").status_code == 204
    page.goto(f"{server.url}/")
    expect(page.get_by_role("heading", name="Query")).to_be_visible()
    expect(page.get_by_label("Token")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.get_by_label("Database", exact=True)).to_have_value("metrics")
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_text("runs without authentication")).to_be_visible()
