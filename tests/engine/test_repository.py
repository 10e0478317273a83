"""Plugin repositories: which `--plugin-repo` is which, and git fetches into snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.plugin_helpers import GitRepo
from timewell.engine.repository import (
    GitRepository,
    HttpRepository,
    RepositoryError,
    Snapshots,
    parse_repository,
    repository_path,
)
from timewell.errors import InvalidRequest


@pytest.mark.parametrize("text, kind, url, ref", [
    ("https://raw.githubusercontent.com/influxdata/influxdb3_plugins/main/", "http",
     "https://raw.githubusercontent.com/influxdata/influxdb3_plugins/main/", None),
    ("http://host/plugins", "http", "http://host/plugins/", None),
    ("https://github.com/org/plugins.git", "git", "https://github.com/org/plugins.git", None),
    ("https://github.com/org/plugins.git@v1.2", "git", "https://github.com/org/plugins.git",
     "v1.2"),
    ("git+https://host/org/plugins@main", "git", "https://host/org/plugins", "main"),
    ("https://user@host/org/plugins.git", "git", "https://user@host/org/plugins.git", None),
    ("git@github.com:org/plugins.git", "git", "git@github.com:org/plugins.git", None),
    ("git@github.com:org/plugins.git@feature/x", "git", "git@github.com:org/plugins.git",
     "feature/x"),
    ("ssh://git@host/org/plugins@abc123", "git", "ssh://git@host/org/plugins", "abc123"),
    ("/srv/plugins@release", "git", "/srv/plugins", "release"),
])
def test_which_repository(tmp_path, text, kind, url, ref):
    repository = parse_repository(text, tmp_path)
    assert repository.kind == kind
    assert repository.url == url
    assert repository.ref == ref


def test_relative_local_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    repository = parse_repository("repo", tmp_path / "cache")
    assert isinstance(repository, GitRepository)
    assert repository.url == str(tmp_path / "repo")


@pytest.mark.parametrize("name", ["gh:", "gh:../x.py", "gh:a/../../x.py", "gh:a\\b.py"])
def test_repository_paths_are_checked(name):
    with pytest.raises(InvalidRequest):
        repository_path(name)


def test_repository_paths_drop_slashes():
    assert repository_path("gh:/examples/x.py") == "examples/x.py"


@pytest.fixture
def repo(tmp_path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.first = repo.commit({"a/plugin.py": "VERSION = 1\n", "a/requirements.txt": "x\n",
                              "pkg/__init__.py": "VERSION = 1\n", "pkg/sub/m.py": "M = 1\n"})
    return repo


def test_git_fetch_pins_commits_and_restores_them(tmp_path, repo):
    snapshots = Snapshots(tmp_path / "snapshots")
    repository = GitRepository(str(repo.path), None, tmp_path / "cache")
    fetched = repository.fetch("a/plugin.py", snapshots)
    assert fetched.record["version"] == repo.first
    assert fetched.path.read_text() == "VERSION = 1\n"
    assert (fetched.path.parent / "requirements.txt").is_file()  # declarations come along

    second = repo.commit({"a/plugin.py": "VERSION = 2\n"})
    again = repository.fetch("a/plugin.py", snapshots)
    assert again.record["version"] == second and again.path.read_text() == "VERSION = 2\n"
    assert fetched.path.read_text() == "VERSION = 1\n"  # snapshots never change

    package = repository.fetch("pkg", snapshots)
    assert (package.path / "sub" / "m.py").read_text() == "M = 1\n"

    # a lost snapshot comes back at its recorded commit, not the newest
    import shutil

    shutil.rmtree(snapshots.root)
    restored = repository.restore(fetched.record, snapshots)
    assert restored.read_text() == "VERSION = 1\n"


def test_git_ref_and_errors(tmp_path, repo):
    snapshots = Snapshots(tmp_path / "snapshots")
    repo.commit({"a/plugin.py": "VERSION = 2\n"})
    pinned = GitRepository(str(repo.path), repo.first, tmp_path / "cache")
    assert pinned.fetch("a/plugin.py", snapshots).path.read_text() == "VERSION = 1\n"
    with pytest.raises(RepositoryError, match="no ref 'nope'"):
        GitRepository(str(repo.path), "nope", tmp_path / "cache").fetch("a/plugin.py",
                                                                           snapshots)
    with pytest.raises(RepositoryError, match="not found in plugin repository"):
        pinned.fetch("a/other.py", snapshots)
    with pytest.raises(RepositoryError, match="directory without __init__.py"):
        pinned.fetch("a", snapshots)
    missing = tmp_path / "missing"
    with pytest.raises(RepositoryError, match=f"cannot clone plugin repository {missing}"):
        GitRepository(str(missing), None, tmp_path / "cache").fetch("a/plugin.py", snapshots)


def test_http_repository_only_serves_python_files(tmp_path):
    with pytest.raises(RepositoryError, match="only single .py files"):
        HttpRepository("http://127.0.0.1:9/").fetch("pkg", Snapshots(Path(tmp_path)))
