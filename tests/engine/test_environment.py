"""The plugin environment's rules, without running an installer."""

from __future__ import annotations

import asyncio

import pytest

from timewell.engine.environment import (
    InstallFailed,
    InstallResult,
    PackageManagerDisabled,
    PluginEnvironment,
    _direct_reference,
    _prune_stale_metadata,
    normalize,
)


def test_server_packages_are_provided_or_refused(tmp_path):
    environment = PluginEnvironment(tmp_path / "env", "uv")
    assert "pyarrow" in environment.server_distributions
    result = InstallResult()
    wanted = environment._requested(["pyarrow", "Some_Package>=1", "./local.whl"], result)
    assert wanted == ["Some_Package>=1", "./local.whl"]
    assert result.provided_by_server[0].startswith("pyarrow==")
    with pytest.raises(InstallFailed, match="one of the server's own packages"):
        environment._requested(["pyarrow<1"], result)
    with pytest.raises(Exception, match="installer option"):
        environment._requested(["--index-url=x"], result)


def test_disabled_refuses(tmp_path):
    environment = PluginEnvironment(tmp_path / "env", "disabled")
    with pytest.raises(PackageManagerDisabled):
        asyncio.run(environment.install(["anything"]))


def test_normalize():
    assert normalize("Foo.Bar_baz") == "foo-bar-baz"


def test_stale_metadata_is_pruned(tmp_path):
    import os

    old = tmp_path / "pkg-1.0.dist-info"
    new = tmp_path / "pkg-2.0.dist-info"
    other = tmp_path / "other-1.0.dist-info"
    for folder in (old, new, other):
        folder.mkdir()
    os.utime(old, ns=(1, 1))
    _prune_stale_metadata(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-1.0.dist-info",
                                                         "pkg-2.0.dist-info"]


def test_direct_references():
    item = {"metadata": {"name": "a", "version": "1"}}
    assert _direct_reference({**item, "download_info": {
        "url": "file:///w/a-1-py3-none-any.whl", "archive_info": {}}}) == \
        "file:///w/a-1-py3-none-any.whl"
    assert _direct_reference({**item, "download_info": {
        "url": "https://h/r.git", "vcs_info": {"vcs": "git", "commit_id": "abc"}}}) == \
        "git+https://h/r.git@abc"
    assert _direct_reference({**item, "download_info": {
        "url": "file:///src/a%20b", "dir_info": {}}}) == "/src/a b"
    assert _direct_reference(item) == "a==1"
