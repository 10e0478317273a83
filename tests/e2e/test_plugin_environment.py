"""Plugin packages on a real server, offline: installs from wheels built here, with uv and pip,
importable by running triggers at once and after a restart; failures, refusals, dependencies."""

from __future__ import annotations

import concurrent.futures
import os
import textwrap

import pytest

from tests.e2e.plugin_helpers import build_wheel, offline_installers
from tests.e2e.test_cli import timewell
from tests.e2e.test_engine import TRIGGER_URL

INSTALL_URL = "/api/v3/configure/plugin_environment/install_packages"
REQUIREMENTS_URL = "/api/v3/configure/plugin_environment/install_requirements"
PACKAGES_URL = "/api/v3/configure/plugin_environment/packages"

IMPORTING_PLUGIN = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    import importlib
    module = importlib.import_module(query_parameters["module"])
    return {"value": module.VALUE, "file": module.__file__}
"""


@pytest.fixture
def wheels(tmp_path, monkeypatch):
    folder = tmp_path / "wheels"
    for name, value in [("twpkg-alpha", 1), ("twpkg-beta", 2), ("twpkg-gamma", 3),
                        ("twpkg-delta", 4), ("twpkg-epsilon", 5)]:
        module = name.replace("-", "_")
        build_wheel(folder, name, "1.0", {f"{module}/__init__.py": f"VALUE = {value}\n"})
    build_wheel(folder, "twpkg-alpha", "2.0", {"twpkg_alpha/__init__.py": "VALUE = 20\n"})
    build_wheel(folder, "twpkg-old-orjson", "1.0", {"twpkg_old_orjson/__init__.py": "VALUE = 6\n"},
                requires=("orjson<1",))
    build_wheel(folder, "twpkg-with-dep", "1.0", {"twpkg_with_dep/__init__.py": "VALUE = 7\n"},
                requires=("twpkg-beta", "orjson"))
    offline_installers(monkeypatch, folder)
    return folder


@pytest.fixture
def plugin_server(make_server, tmp_path, wheels):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "importer.py").write_text(IMPORTING_PLUGIN)

    def start(*args: str):
        server = make_server("--plugin-dir", str(plugin_dir), *args)
        server.plugin_dir = plugin_dir
        http = server.client()
        http.post("/api/v3/configure/database", json={"db": "test"})
        return server, http

    return start


def create_importer(http, name: str = "importer", path: str = "imp") -> None:
    response = http.post(TRIGGER_URL, json={
        "db": "test", "trigger_name": name, "plugin_filename": "importer.py",
        "trigger_specification": f"request:{path}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("manager", ["uv", "pip"])
def test_installed_package_is_importable_at_once_and_after_restart(plugin_server, tmp_path,
                                                                   manager):
    server, http = plugin_server("--package-manager", manager)
    create_importer(http)
    before = http.get("/api/v3/engine/imp", params={"module": "twpkg_alpha"})
    assert before.status_code == 500 and "No module named 'twpkg_alpha'" in before.text

    response = http.post(INSTALL_URL, json={"packages": ["twpkg-alpha==1.0"]})
    assert response.status_code == 200, response.text
    assert response.json()["installed"] == ["twpkg-alpha==1.0"]

    answer = http.get("/api/v3/engine/imp", params={"module": "twpkg_alpha"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["value"] == 1
    # installed under the data directory, not into the server's environment
    assert answer.json()["file"].startswith(str(tmp_path / "data"))

    server.restart()
    answer = server.client().get("/api/v3/engine/imp", params={"module": "twpkg_alpha"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["value"] == 1


@pytest.mark.parametrize("manager", ["uv", "pip"])
def test_failed_install_answers_the_installers_message(plugin_server, manager):
    server, http = plugin_server("--package-manager", manager)
    response = http.post(INSTALL_URL, json={"packages": ["twpkg-no-such-package"]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.startswith(f"{manager} failed")
    assert "twpkg-no-such-package" in error
    if manager == "pip":
        assert "No matching distribution found for twpkg-no-such-package" in error
    assert server.query("SELECT 1", db="test").status_code == 200


def test_disabled_package_manager_answers_403(plugin_server):
    _, http = plugin_server("--package-manager", "disabled")
    response = http.post(INSTALL_URL, json={"packages": ["twpkg-alpha"]})
    assert response.status_code == 403
    assert "--package-manager disabled" in response.json()["error"]
    response = http.post(REQUIREMENTS_URL, json={"requirements": "twpkg-alpha\n"})
    assert response.status_code == 403


@pytest.mark.parametrize("manager", ["uv", "pip"])
def test_the_servers_own_packages_always_win(plugin_server, tmp_path, manager):
    server, http = plugin_server("--package-manager", manager)
    create_importer(http)
    # a dependency the server has already is not installed again
    response = http.post(INSTALL_URL, json={"packages": ["twpkg-with-dep"]})
    assert response.status_code == 200, response.text
    assert sorted(response.json()["installed"]) == ["twpkg-beta==1.0", "twpkg-with-dep==1.0"]
    assert http.get("/api/v3/engine/imp",
                    params={"module": "twpkg_with_dep"}).json()["value"] == 7

    # a dependency on another version of a server package: uv leaves it out (the server's
    # version is used, with a warning); pip needs to find that version first
    response = http.post(INSTALL_URL, json={"packages": ["twpkg-old-orjson"]})
    if manager == "uv":
        assert response.status_code == 200, response.text
        assert response.json()["installed"] == ["twpkg-old-orjson==1.0"]
        assert any("orjson<1" in w and "server's orjson" in w
                   for w in response.json()["warnings"])
    else:
        assert response.status_code == 400
        assert "orjson<1" in response.json()["error"]
    assert not list((tmp_path / "data" / "local" / "plugin-packages").glob("orjson*"))

    # asking for a server package directly: fine when it matches, refused when not
    response = http.post(INSTALL_URL, json={"packages": ["orjson"]})
    assert response.status_code == 200
    assert response.json()["provided_by_server"][0].startswith("orjson==")
    response = http.post(INSTALL_URL, json={"packages": ["orjson<1"]})
    assert response.status_code == 400
    assert "one of the server's own packages" in response.json()["error"]
    assert server.query("SELECT 1", db="test").status_code == 200


def test_upgrade_replaces_the_installed_version(plugin_server):
    _, http = plugin_server()
    create_importer(http)
    assert http.post(INSTALL_URL, json={"packages": ["twpkg-alpha==1.0"]}).status_code == 200
    response = http.post(INSTALL_URL, json={"packages": ["twpkg-alpha==2.0"]})
    assert response.json()["installed"] == ["twpkg-alpha==2.0"]
    # a module already imported stays as it is: this one was not imported before
    assert http.get("/api/v3/engine/imp", params={"module": "twpkg_alpha"}).json()["value"] == 20


def test_packages_lists_what_the_plugin_environment_holds(plugin_server):
    _, http = plugin_server("--package-manager", "pip")
    empty = http.get(PACKAGES_URL)
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"package_manager": "pip", "packages": []}
    assert http.post(INSTALL_URL, json={"packages": ["twpkg-with-dep"]}).status_code == 200
    # orjson is the server's own: never in the plugin environment
    assert http.get(PACKAGES_URL).json()["packages"] == [
        {"name": "twpkg-beta", "version": "1.0"}, {"name": "twpkg-with-dep", "version": "1.0"}]


def test_install_requirements_from_the_server_or_the_request(plugin_server):
    server, http = plugin_server()
    (server.plugin_dir / "reqs.txt").write_text("twpkg-beta\n")
    response = http.post(REQUIREMENTS_URL, json={"requirements_location": "reqs.txt"})
    assert response.status_code == 200, response.text
    assert response.json()["installed"] == ["twpkg-beta==1.0"]
    response = http.post(REQUIREMENTS_URL, json={"requirements": "twpkg-gamma  # comment\n"})
    assert response.json()["installed"] == ["twpkg-gamma==1.0"]
    response = http.post(REQUIREMENTS_URL, json={"requirements_location": "missing.txt"})
    assert response.status_code == 404


def test_installer_options_are_not_packages(plugin_server):
    _, http = plugin_server()
    response = http.post(INSTALL_URL, json={"packages": ["--index-url=http://evil"]})
    assert response.status_code == 400
    assert "installer option" in response.json()["error"]
    assert http.post(INSTALL_URL, json={"packages": []}).status_code == 400


def test_concurrent_installs_all_land(plugin_server):
    _, http = plugin_server()
    create_importer(http)
    names = ["twpkg-alpha", "twpkg-beta", "twpkg-gamma"]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(
            lambda name: http.post(INSTALL_URL, json={"packages": [name]}), names))
    assert [r.status_code for r in responses] == [200, 200, 200]
    for name in names:
        module = name.replace("-", "_")
        assert http.get("/api/v3/engine/imp", params={"module": module}).status_code == 200


def test_cli_install_package(plugin_server, tmp_path):
    server, _ = plugin_server()
    env = {**os.environ, "TIMEWELL_HOST_URL": server.url}
    result = timewell(env, "install", "package", "twpkg-alpha", "twpkg-beta")
    assert result.returncode == 0, result.stderr
    assert "twpkg-alpha==2.0" in result.stdout and "twpkg-beta==1.0" in result.stdout
    requirements = tmp_path / "local-requirements.txt"
    requirements.write_text("twpkg-gamma\n")
    result = timewell(env, "install", "package", "-r", str(requirements))
    assert result.returncode == 0, result.stderr
    assert "twpkg-gamma==1.0" in result.stdout
    result = timewell(env, "install", "package", "twpkg-no-such-package")
    assert result.returncode == 1
    assert "server answered 400" in result.stderr and "twpkg-no-such-package" in result.stderr


DEPENDENT_PACKAGE = """
import twpkg_delta

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    return {"value": twpkg_delta.VALUE}
"""


def test_declared_dependencies_installed_with_install_deps(plugin_server):
    server, http = plugin_server()
    package = server.plugin_dir / "dependent"
    package.mkdir()
    (package / "__init__.py").write_text(DEPENDENT_PACKAGE)
    (package / "requirements.txt").write_text("twpkg-delta>=1\n")
    body = {"db": "test", "trigger_name": "dep", "plugin_filename": "dependent",
            "trigger_specification": "request:dep"}
    response = http.post(TRIGGER_URL, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "No module named 'twpkg_delta'" in error
    assert "declares packages that are not installed: twpkg-delta>=1" in error

    response = http.post(TRIGGER_URL, json={**body, "install_deps": True})
    assert response.status_code == 200, response.text
    assert http.get("/api/v3/engine/dep").json() == {"value": 4}


def test_manifest_dependencies_with_the_cli(plugin_server):
    server, _ = plugin_server()
    folder = server.plugin_dir / "org" / "epsilon"
    folder.mkdir(parents=True)
    (folder / "epsilon.py").write_text(DEPENDENT_PACKAGE.replace("delta", "epsilon"))
    (folder / "manifest.toml").write_text(textwrap.dedent("""
        [plugin]
        name = "epsilon"
        [dependencies]
        python = ["twpkg-epsilon"]
    """))
    env = {**os.environ, "TIMEWELL_HOST_URL": server.url}
    args = ["create", "trigger", "eps", "-d", "test", "--trigger-spec", "request:eps",
            "--path", "org/epsilon/epsilon.py"]
    result = timewell(env, *args)
    assert result.returncode == 1 and "twpkg-epsilon" in result.stderr
    result = timewell(env, *args, "--install-deps")
    assert result.returncode == 0, result.stderr
    assert server.client().get("/api/v3/engine/eps").json() == {"value": 5}
