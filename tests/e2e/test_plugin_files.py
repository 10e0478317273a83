"""The plugin file API on a real server: uploads, replacing a trigger's file or whole package
directory, refusing paths that leave the plugin directory; and the CLI on top of it."""

from __future__ import annotations

import os

import pytest

from tests.e2e.test_cli import timewell
from tests.e2e.test_engine import TRIGGER_URL

FILES_URL = "/api/v3/plugins/files"
DIRECTORY_URL = "/api/v3/plugins/directory"

PLUGIN = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    return {{"version": "{version}"}}
"""
PACKAGE_INIT = """
from .{helper} import version

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    return {{"version": version()}}
"""
HELPER = """
def version():
    return "{version}"
"""


@pytest.fixture
def files_server(make_server, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    server = make_server("--plugin-dir", str(plugin_dir))
    server.plugin_dir = plugin_dir
    server.http = server.client()
    server.http.post("/api/v3/configure/database", json={"db": "test"})
    return server


def create(http, name: str, plugin: str):
    response = http.post(TRIGGER_URL, json={
        "db": "test", "trigger_name": name, "plugin_filename": plugin,
        "trigger_specification": f"request:{name}"})
    assert response.status_code == 200, response.text


def version_of(http, name: str) -> str:
    response = http.get(f"/api/v3/engine/{name}")
    assert response.status_code == 200, response.text
    return response.json()["version"]


def test_upload_then_replace_a_file(files_server):
    http = files_server.http
    response = http.post(FILES_URL, params={"db": "test"},
                         json={"plugin_name": "team/hello.py",
                               "content": PLUGIN.format(version="v1")})
    assert response.status_code == 200, response.text
    assert (files_server.plugin_dir / "team" / "hello.py").is_file()
    create(http, "hello", "team/hello.py")
    assert version_of(http, "hello") == "v1"

    response = http.put(FILES_URL, params={"db": "test"},
                        json={"plugin_name": "hello", "content": PLUGIN.format(version="v2")})
    assert response.status_code == 200, response.text
    assert version_of(http, "hello") == "v2"
    response = http.post(FILES_URL, json={"plugin_name": "team/hello.py",
                                          "content": PLUGIN.format(version="v3")})
    assert response.status_code == 200
    assert version_of(http, "hello") == "v3"


@pytest.mark.parametrize("name", ["../outside.py", "/etc/outside.py", "team/../../outside.py",
                                  "link/outside.py", "", "."])
def test_uploads_may_not_leave_the_plugin_directory(files_server, tmp_path, name):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (files_server.plugin_dir / "link").symlink_to(outside)
    response = files_server.http.post(FILES_URL, json={"plugin_name": name,
                                                       "content": "x = 1\n"})
    assert response.status_code == 400, response.text
    assert not list(outside.iterdir())
    assert not (tmp_path / "outside.py").exists()


def test_bad_uploads(files_server):
    http = files_server.http
    response = http.post(FILES_URL, json={"plugin_name": "broken.py", "content": "def (:\n"})
    assert response.status_code == 400
    assert "not valid Python" in response.json()["error"]
    assert not (files_server.plugin_dir / "broken.py").exists()
    assert http.post(FILES_URL, json={"plugin_name": "x.py"}).status_code == 400
    response = http.put(FILES_URL, params={"db": "test"},
                        json={"plugin_name": "nope", "content": "x = 1\n"})
    assert response.status_code == 404


def test_replace_a_trigger_directory_atomically(files_server):
    http = files_server.http
    package = files_server.plugin_dir / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(PACKAGE_INIT.format(helper="helper"))
    (package / "helper.py").write_text(HELPER.format(version="v1"))
    create(http, "pkg", "pkg")
    assert version_of(http, "pkg") == "v1"

    files = [{"relative_path": "__init__.py", "content": PACKAGE_INIT.format(helper="tools.new")},
             {"relative_path": "tools/__init__.py", "content": ""},
             {"relative_path": "tools/new.py", "content": HELPER.format(version="v2")}]
    response = http.put(DIRECTORY_URL, params={"db": "test"},
                        json={"plugin_name": "pkg", "files": files})
    assert response.status_code == 200, response.text
    assert version_of(http, "pkg") == "v2"
    assert not (package / "helper.py").exists()  # the directory holds exactly the new files
    assert sorted(p.name for p in files_server.plugin_dir.iterdir()) == ["pkg"]

    # one file of the package
    response = http.put(FILES_URL, params={"db": "test"},
                        json={"plugin_name": "pkg", "relative_path": "tools/new.py",
                              "content": HELPER.format(version="v3")})
    assert response.status_code == 200, response.text
    assert version_of(http, "pkg") == "v3"
    response = http.put(FILES_URL, params={"db": "test"},
                        json={"plugin_name": "pkg", "content": "x = 1\n"})
    assert response.status_code == 400 and "relative_path" in response.json()["error"]


@pytest.mark.parametrize("bad", ["../escape.py", "/abs/escape.py", "a/../../escape.py"])
def test_directory_replace_refuses_escaping_paths(files_server, bad):
    http = files_server.http
    package = files_server.plugin_dir / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(PACKAGE_INIT.format(helper="helper"))
    (package / "helper.py").write_text(HELPER.format(version="v1"))
    create(http, "pkg", "pkg")
    files = [{"relative_path": "__init__.py", "content": "x = 1\n"},
             {"relative_path": bad, "content": "x = 1\n"}]
    response = http.put(DIRECTORY_URL, params={"db": "test"},
                        json={"plugin_name": "pkg", "files": files})
    assert response.status_code == 400
    assert version_of(http, "pkg") == "v1"
    assert not (files_server.plugin_dir.parent / "escape.py").exists()
    assert sorted(p.name for p in package.glob("*.py")) == ["__init__.py", "helper.py"]
    response = http.put(DIRECTORY_URL, params={"db": "test"}, json={
        "plugin_name": "pkg", "files": [{"relative_path": "helper.py", "content": ""}]})
    assert response.status_code == 400 and "__init__.py" in response.json()["error"]


def test_cli_upload_and_update(files_server, tmp_path):
    env = {**os.environ, "TIMEWELL_HOST_URL": files_server.url}
    local = tmp_path / "work"
    local.mkdir()
    (local / "single.py").write_text(PLUGIN.format(version="single-v1"))
    result = timewell(env, "create", "trigger", "single", "-d", "test", "--trigger-spec",
                      "request:single", "--path", str(local / "single.py"), "--upload")
    assert result.returncode == 0, result.stderr
    assert (files_server.plugin_dir / "single.py").is_file()
    assert version_of(files_server.http, "single") == "single-v1"

    package = local / "multi"
    package.mkdir()
    (package / "__init__.py").write_text(PACKAGE_INIT.format(helper="helper"))
    (package / "helper.py").write_text(HELPER.format(version="multi-v1"))
    result = timewell(env, "create", "trigger", "multi", "-d", "test", "--trigger-spec",
                      "request:multi", "--path", str(package), "--upload")
    assert result.returncode == 0, result.stderr
    assert version_of(files_server.http, "multi") == "multi-v1"

    (local / "single.py").write_text(PLUGIN.format(version="single-v2"))
    result = timewell(env, "update", "trigger", "-d", "test", "--trigger-name", "single",
                      "--path", str(local / "single.py"))
    assert result.returncode == 0, result.stderr
    assert "Plugin 'single' updated successfully" in result.stdout
    assert version_of(files_server.http, "single") == "single-v2"

    (package / "helper.py").write_text(HELPER.format(version="multi-v2"))
    result = timewell(env, "update", "trigger", "-d", "test", "--trigger-name", "multi",
                      "--path", str(package))
    assert result.returncode == 0, result.stderr
    assert version_of(files_server.http, "multi") == "multi-v2"

    # one local file replaces the package's file of that name
    (local / "helper.py").write_text(HELPER.format(version="multi-v3"))
    result = timewell(env, "update", "trigger", "-d", "test", "--trigger-name", "multi",
                      "--path", str(local / "helper.py"))
    assert result.returncode == 0, result.stderr
    assert version_of(files_server.http, "multi") == "multi-v3"

    # switching a trigger to another plugin on the server
    result = timewell(env, "update", "trigger", "-d", "test", "--trigger-name", "single",
                      "--path", "multi")
    assert result.returncode == 0, result.stderr
    assert version_of(files_server.http, "single") == "multi-v3"


def test_without_a_plugin_directory_uploads_are_refused(make_server):
    server = make_server()
    response = server.client().post(FILES_URL, json={"plugin_name": "x.py",
                                                     "content": "x = 1\n"})
    assert response.status_code == 400
    assert "--plugin-dir" in response.json()["error"]


def test_list_and_read_back_every_file_of_the_plugin_directory(files_server):
    http, root = files_server.http, files_server.plugin_dir
    assert http.post(FILES_URL, json={"plugin_name": "team/hello.py",
                                      "content": PLUGIN.format(version="v1")}).status_code == 200
    (root / "notes.txt").write_text("not used by any trigger\n")
    (root / ".hidden.py").write_text("x = 1\n")
    (root / "team" / "__pycache__").mkdir()
    (root / "team" / "__pycache__" / "hello.cpython.pyc").write_bytes(b"\0")
    (root / "outside.py").symlink_to(root.parent / "elsewhere.py")
    (root.parent / "elsewhere.py").write_text("secret = 1\n")

    listing = http.get(FILES_URL)
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert body["plugin_dir"] == str(root.resolve()) and body["truncated"] is False
    assert [f["plugin_name"] for f in body["files"]] == ["notes.txt", "team/hello.py"]
    hello = body["files"][1]
    assert hello["size_bytes"] == len(PLUGIN.format(version="v1").encode())
    assert hello["modified"].endswith("Z")

    read = http.get(FILES_URL, params={"plugin_name": "team/hello.py"})
    assert read.status_code == 200, read.text
    assert read.json()["content"] == PLUGIN.format(version="v1")
    assert read.json()["version"] == http.post(FILES_URL, json={
        "plugin_name": "team/hello.py", "content": PLUGIN.format(version="v1")}).json()["version"]
    assert http.get(FILES_URL, params={"plugin_name": "notes.txt"}).json()["content"] == (
        "not used by any trigger\n")


@pytest.mark.parametrize("name, status, words", [
    ("../elsewhere.py", 400, "may not contain '..'"),
    ("team/../../elsewhere.py", 400, "may not contain '..'"),
    ("/etc/passwd", 400, "outside the plugin directory"),
    ("outside.py", 400, "leads outside the plugin directory"),
    ("team", 400, "is a directory"),
    ("missing.py", 404, "GET /api/v3/plugins/files lists"),
    ("team/hello.py/inner.py", 404, "not found"),
    ("binary.bin", 400, "not a UTF-8 text file"),
])
def test_reading_a_file_refuses_what_is_not_a_plugin_file(files_server, name, status, words):
    http, root = files_server.http, files_server.plugin_dir
    (root / "team").mkdir()
    (root / "team" / "hello.py").write_text("x = 1\n")
    (root / "binary.bin").write_bytes(b"\xff\xfe\x00")
    (root.parent / "elsewhere.py").write_text("secret = 1\n")
    (root / "outside.py").symlink_to(root.parent / "elsewhere.py")
    response = http.get(FILES_URL, params={"plugin_name": name})
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert "secret" not in response.text


def test_without_a_plugin_directory_the_list_is_empty_and_reading_says_why(make_server):
    http = make_server().client()
    assert http.get(FILES_URL).json() == {"plugin_dir": None, "files": [], "truncated": False}
    response = http.get(FILES_URL, params={"plugin_name": "a.py"})
    assert response.status_code == 400
    assert "--plugin-dir" in response.json()["error"]
