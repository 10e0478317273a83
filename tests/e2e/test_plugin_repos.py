"""`gh:` plugins from a plugin repository served over local HTTP and from local git
repositories: pinned versions, the registry, `update trigger`, restarts, fetch errors."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.e2e.plugin_helpers import GitRepo, StaticServer
from tests.e2e.test_cli import timewell
from tests.e2e.test_engine import TRIGGER_URL

PLUGIN = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    return {{"version": "{version}"}}
"""
PACKAGE_INIT = """
from .helper import version

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    return {"version": version()}
"""
HELPER = """
def version():
    return "{version}"
"""


def create(http, name: str, plugin: str, path: str | None = None, **extra):
    return http.post(TRIGGER_URL, json={
        "db": "test", "trigger_name": name, "plugin_filename": plugin,
        "trigger_specification": f"request:{path or name}", **extra})


def version_of(http, path: str) -> str:
    response = http.get(f"/api/v3/engine/{path}")
    assert response.status_code == 200, response.text
    return response.json()["version"]


def registry(server) -> dict[str, dict]:
    rows = server.rows("SELECT * FROM system.plugin_files ORDER BY plugin_name, file_name",
                       db="_internal")
    return {(r["plugin_name"], r["file_name"]): r for r in rows}


def start(make_server, repo: str):
    server = make_server("--plugin-repo", repo)
    http = server.client()
    http.post("/api/v3/configure/database", json={"db": "test"})
    return server, http


@pytest.fixture
def http_repo(tmp_path):
    root = tmp_path / "served"
    (root / "examples").mkdir(parents=True)
    (root / "examples" / "hello.py").write_text(PLUGIN.format(version="v1"))
    served = StaticServer(root)
    served.root = root
    yield served
    served.close()


def test_http_repository_plugin_is_pinned_until_updated(make_server, http_repo):
    server, http = start(make_server, http_repo.url)
    response = create(http, "hello", "gh:examples/hello.py")
    assert response.status_code == 200, response.text
    assert version_of(http, "hello") == "v1"
    first = "sha256:" + hashlib.sha256(PLUGIN.format(version="v1").encode()).hexdigest()[:16]
    row = registry(server)[("hello", "hello.py")]
    assert row["source"] == http_repo.url + "examples/hello.py"
    assert row["version"] == first and row["triggers"] == "test.hello"

    # the repository changes: the trigger keeps its version, across a restart too
    (http_repo.root / "examples" / "hello.py").write_text(PLUGIN.format(version="v2"))
    assert version_of(http, "hello") == "v1"
    fetches = len(http_repo.requests)
    server.restart()
    http = server.client()
    assert version_of(http, "hello") == "v1"
    assert len(http_repo.requests) == fetches  # restarts run the saved copy, no fetch

    response = http.put(TRIGGER_URL, json={"db": "test", "trigger_name": "hello"})
    assert response.status_code == 200, response.text
    assert response.json()["previous_version"] == first
    assert response.json()["version"] != first
    assert version_of(http, "hello") == "v2"
    assert registry(server)[("hello", "hello.py")]["version"] == response.json()["version"]


def test_http_fetch_failures_name_the_url(make_server, http_repo):
    _, http = start(make_server, http_repo.url)
    response = create(http, "missing", "gh:examples/missing.py")
    assert response.status_code == 400
    assert f"{http_repo.url}examples/missing.py" in response.json()["error"]
    assert "404" in response.json()["error"]
    response = create(http, "escape", "gh:../secret.py")
    assert response.status_code == 400


def test_unreachable_repository_names_the_url(make_server):
    _, http = start(make_server, "http://127.0.0.1:9/plugins/")
    response = create(http, "hello", "gh:examples/hello.py")
    assert response.status_code == 400
    assert "http://127.0.0.1:9/plugins/examples/hello.py" in response.json()["error"]


@pytest.fixture
def git_repo(tmp_path):
    repo = GitRepo(tmp_path / "repo")
    repo.first = repo.commit({
        "plugins/hello.py": PLUGIN.format(version="v1"),
        "plugins/pkg/__init__.py": PACKAGE_INIT,
        "plugins/pkg/helper.py": HELPER.format(version="pkg-v1"),
        "org/layout/layout.py": PLUGIN.format(version="layout-v1"),
    }, "first")
    return repo


def test_git_repository_triggers_run_their_commit(make_server, git_repo):
    server, http = start(make_server, str(git_repo.path))
    assert create(http, "hello", "gh:plugins/hello.py").status_code == 200
    assert create(http, "pkg", "gh:plugins/pkg").status_code == 200
    assert create(http, "layout", "gh:org/layout").status_code == 200  # upstream's layout
    assert version_of(http, "hello") == "v1"
    assert version_of(http, "pkg") == "pkg-v1"
    assert version_of(http, "layout") == "layout-v1"
    rows = registry(server)
    assert rows[("hello", "hello.py")]["version"] == git_repo.first
    assert rows[("hello", "hello.py")]["source"] == f"{git_repo.path}//plugins/hello.py"
    assert {name for plugin, name in rows if plugin == "pkg"} == {"__init__.py", "helper.py"}
    assert rows[("layout", "layout.py")]["source"].endswith("//org/layout/layout.py")

    second = git_repo.commit({"plugins/hello.py": PLUGIN.format(version="v2"),
                              "plugins/pkg/helper.py": HELPER.format(version="pkg-v2")},
                             "second")
    # a new trigger of a plugin in use runs the same version; --refresh takes the new one
    assert create(http, "hello_same", "gh:plugins/hello.py").status_code == 200
    assert version_of(http, "hello_same") == "v1"
    assert registry(server)[("hello", "hello.py")]["triggers"] == "test.hello,test.hello_same"
    assert create(http, "hello_new", "gh:plugins/hello.py", refresh=True).status_code == 200
    assert version_of(http, "hello_new") == "v2"
    assert registry(server)[("hello_new", "hello.py")]["version"] == second

    server.restart()
    http = server.client()
    assert version_of(http, "hello") == "v1" and version_of(http, "pkg") == "pkg-v1"

    env = {**os.environ, "TIMEWELL_HOST_URL": server.url}
    result = timewell(env, "update", "trigger", "-d", "test", "--trigger-name", "hello")
    assert result.returncode == 0, result.stderr
    assert f"{git_repo.first} -> {second}" in result.stdout
    result = timewell(env, "update", "trigger", "-d", "test", "--trigger-name", "pkg")
    assert result.returncode == 0, result.stderr
    assert version_of(http, "hello") == "v2" and version_of(http, "pkg") == "pkg-v2"
    assert registry(server)[("pkg", "helper.py")]["version"] == second

    result = timewell(env, "show", "plugins", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert second in result.stdout and "helper.py" in result.stdout


def test_git_ref_and_refresh_on_enable(make_server, git_repo):
    second = git_repo.commit({"plugins/hello.py": PLUGIN.format(version="v2")}, "second")
    server, http = start(make_server, f"{git_repo.path}@{git_repo.first}")
    assert create(http, "hello", "gh:plugins/hello.py").status_code == 200
    assert version_of(http, "hello") == "v1"
    server.stop()

    server, http = start(make_server, str(git_repo.path))  # same data, repository at HEAD
    assert version_of(http, "hello") == "v1"
    assert http.post(f"{TRIGGER_URL}/disable",
                     params={"db": "test", "trigger_name": "hello"}).status_code == 200
    response = http.post(f"{TRIGGER_URL}/enable",
                         params={"db": "test", "trigger_name": "hello", "refresh": "true"})
    assert response.status_code == 200, response.text
    assert version_of(http, "hello") == "v2"
    assert registry(server)[("hello", "hello.py")]["version"] == second


def test_git_errors_name_the_repository(make_server, git_repo, tmp_path):
    _, http = start(make_server, str(git_repo.path))
    response = create(http, "nothing", "gh:plugins/nothing.py")
    assert response.status_code == 400
    assert str(git_repo.path) in response.json()["error"]
    assert "not found" in response.json()["error"]
    missing = tmp_path / "no-such-repo"
    _, http = start(make_server, str(missing))
    response = create(http, "hello", "gh:plugins/hello.py")
    assert response.status_code == 400
    assert f"cannot clone plugin repository {missing}" in response.json()["error"]


def test_local_plugins_show_their_content_hash(make_server, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "local.py").write_text(PLUGIN.format(version="local-v1"))
    server = make_server("--plugin-dir", str(plugin_dir))
    http = server.client()
    http.post("/api/v3/configure/database", json={"db": "test"})
    assert create(http, "local", "local.py").status_code == 200
    row = registry(server)[("local", "local.py")]
    assert row["source"] == "plugin-dir:local.py"
    assert row["file_path"] == str(plugin_dir / "local.py")
    assert row["version"] == "sha256:" + hashlib.sha256(
        PLUGIN.format(version="local-v1").encode()).hexdigest()[:16]
    # local files are hot-reloaded: the version shown follows the file
    (plugin_dir / "local.py").write_text(PLUGIN.format(version="local-v2!"))
    assert version_of(http, "local") == "local-v2!"
    assert registry(server)[("local", "local.py")]["version"] != row["version"]
    rows = server.rows("SELECT count(*) AS n FROM system.plugin_files", db="test")
    assert rows == [{"n": 1}]
