"""Plugin files listed, read and written over the API stay inside the plugin directory."""

from __future__ import annotations

import pytest

from timewell.engine import files as files_module
from timewell.engine.files import PluginFiles, _exchange
from timewell.engine.plugins import PluginDirectory
from timewell.errors import InvalidRequest, NotFound


@pytest.fixture
def files(tmp_path) -> PluginFiles:
    (tmp_path / "plugins").mkdir()
    return PluginFiles(PluginDirectory(tmp_path / "plugins"))


def test_write_creates_and_replaces(files):
    path = files.write("a/b.py", "x = 1\n")
    assert path.read_text() == "x = 1\n"
    files.write("a/b.py", "x = 2\n")
    assert path.read_text() == "x = 2\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.py"]  # no temporary left


@pytest.mark.parametrize("name", ["../x.py", "a/../../x.py", "/etc/x.py", "", ".", "a"])
def test_write_refuses(files, name):
    (files.plugins.root / "a").mkdir()
    with pytest.raises(InvalidRequest):
        files.write(name, "x = 1\n")


def test_listing_leaves_out_hidden_compiled_and_escaping_files(files, tmp_path):
    root = files.plugins.root
    files.write("b.py", "x = 1\n")
    files.write("pkg/__init__.py", "y = 2\n")
    (root / ".b.py.1234.tmp").write_text("partial")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (tmp_path / "secret.py").write_text("s = 1\n")
    (root / "link.py").symlink_to(tmp_path / "secret.py")
    (root / "inner.py").symlink_to(root / "b.py")
    listed, truncated = files.listing()
    assert [f["plugin_name"] for f in listed] == ["b.py", "inner.py", "pkg/__init__.py"]
    assert listed[0]["size_bytes"] == 6 and not truncated


def test_listing_stops_at_the_limit(files, monkeypatch):
    monkeypatch.setattr(files_module, "LIST_LIMIT", 2)
    for name in "abc":
        files.write(f"{name}.py", "")
    listed, truncated = files.listing()
    assert [f["plugin_name"] for f in listed] == ["a.py", "b.py"] and truncated


def test_read(files):
    files.write("a/b.py", "x = 1\n")
    content, stat = files.read("a/b.py")
    assert content == "x = 1\n" and stat.st_size == 6
    with pytest.raises(NotFound):
        files.read("a/c.py")
    for bad in ("../x.py", "/etc/passwd", "a", ""):
        with pytest.raises(InvalidRequest):
            files.read(bad)


def test_replace_directory(files):
    target = files.plugins.root / "pkg"
    files.replace_directory(target, [("__init__.py", "x = 1\n"), ("sub/m.py", "y = 1\n")])
    assert (target / "sub" / "m.py").read_text() == "y = 1\n"
    files.replace_directory(target, [("__init__.py", "x = 2\n")])
    assert sorted(p.name for p in target.iterdir()) == ["__init__.py"]
    assert sorted(p.name for p in files.plugins.root.iterdir()) == ["pkg"]
    for bad in (["../x.py"], ["/x.py"], ["a/../../x.py"], ["__init__.py", "__init__.py"]):
        with pytest.raises(InvalidRequest):
            files.replace_directory(target, [("__init__.py", "")] + [(b, "") for b in bad])
    with pytest.raises(InvalidRequest, match="not valid Python"):
        files.replace_directory(target, [("__init__.py", "def (:")])
    assert (target / "__init__.py").read_text() == "x = 2\n"


def test_exchange_swaps(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "from_a").touch()
    if not _exchange(a, b):
        pytest.skip("renameat2 is not available here")
    assert (b / "from_a").exists() and not (a / "from_a").exists()
