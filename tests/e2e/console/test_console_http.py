"""The console's files over HTTP: every asset answers, headers are strict, `/` sends browsers
to the console, `--disable-ui` turns it off."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx

HTML_REF = re.compile(r'(?:href|src)="([^"]+)"')
MODULE_REF = re.compile(r"""^(?:import|export)\b[^;'"]*?from\s+'([^']+)'""", re.M)
SIZE_BUDGET = 400 * 1024


def console_files(base: str) -> dict[str, httpx.Response]:
    """Every file the console references, followed from /ui/ through its module imports."""
    seen: dict[str, httpx.Response] = {}
    todo = [f"{base}/ui/"]
    with httpx.Client(headers={"Accept-Encoding": "gzip"}) as client:
        while todo:
            url = todo.pop()
            if url in seen:
                continue
            response = seen[url] = client.get(url)
            kind = response.headers.get("content-type", "")
            pattern = HTML_REF if "html" in kind else MODULE_REF if "javascript" in kind else None
            if response.status_code == 200 and pattern is not None:
                todo += [urljoin(url, ref) for ref in pattern.findall(response.text)]
    return seen


def test_every_asset_answers_with_strict_headers_and_fits_the_budget(console_server):
    files = console_files(console_server.url)
    assert len(files) > 10  # index, modules, styles, vendored uPlot, favicon
    transferred = 0
    for url, response in files.items():
        assert response.status_code == 200, url
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["content-encoding"] == "gzip"
        transferred += int(headers["content-length"])
        if url.endswith("/ui/"):
            assert headers["cache-control"] == "no-cache"
        else:  # under a path naming the content hash
            assert "/ui/assets/" in url and "immutable" in headers["cache-control"], url
    assert transferred <= SIZE_BUDGET, transferred


def test_index_names_the_current_asset_version(console_server):
    page = httpx.get(f"{console_server.url}/ui/").text
    version = re.search(r"/ui/assets/([0-9a-f]{16})/js/main\.js", page).group(1)
    fresh = httpx.get(f"{console_server.url}/ui/assets/{version}/app.css")
    stale = httpx.get(f"{console_server.url}/ui/assets/0000000000000000/app.css")
    assert "immutable" in fresh.headers["cache-control"]
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    missing = httpx.get(f"{console_server.url}/ui/assets/{version}/nothing.js")
    assert missing.status_code == 404


def test_console_needs_no_token_but_the_api_does(console_server):
    url = console_server.url
    assert httpx.get(f"{url}/ui/").status_code == 200
    assert 'content="required"' in httpx.get(f"{url}/ui/").text
    assert httpx.get(f"{url}/favicon.ico").status_code == 200
    assert httpx.get(f"{url}/api/v3/configure/database?format=json").status_code == 401
    assert httpx.get(f"{url}/ui/", headers={"Accept-Encoding": "gzip"}).content  # decoded


def test_root_redirects_browsers_only(console_server):
    url = console_server.url
    browser = httpx.get(f"{url}/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 302 and browser.headers["location"] == "/ui/"
    assert httpx.get(f"{url}/ui").headers["location"] == "/ui/"
    # API clients at / are asked for a token as before, and get no console with one
    api_client = httpx.get(f"{url}/", headers={"Accept": "application/json"})
    assert api_client.status_code == 401
    with_token = httpx.get(f"{url}/", headers={"Accept": "application/json",
                                               "Authorization": f"Bearer {console_server.token}"})
    assert with_token.status_code == 404


def test_disable_ui_serves_no_console(make_server):
    server = make_server("--disable-ui")
    assert httpx.get(f"{server.url}/ui/").status_code == 404
    assert httpx.get(f"{server.url}/", headers={"Accept": "text/html"}).status_code == 404
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_without_auth_opens_the_console_directly(make_server):
    server = make_server()
    assert 'content="off"' in httpx.get(f"{server.url}/ui/").text
