"""What plugins declare they need."""

from __future__ import annotations

from timewell.engine.dependencies import declared, missing, missing_hint


def test_requirements_beside_a_file_and_in_a_package(tmp_path):
    (tmp_path / "plugin.py").write_text("")
    (tmp_path / "requirements.txt").write_text(
        "# comment\norjson\n--index-url http://x\nno-such-package-twx>=1  # why\n")
    assert declared(tmp_path / "plugin.py").requirements == ["orjson", "no-such-package-twx>=1"]
    assert missing(tmp_path / "plugin.py") == ["no-such-package-twx>=1"]
    assert "no-such-package-twx>=1" in missing_hint(tmp_path / "plugin.py")


def test_manifest_dependencies(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "manifest.toml").write_text('[dependencies]\npython = ["pyarrow<1", "orjson"]\n')
    needs = declared(package)
    assert needs and needs.packages == ("pyarrow<1", "orjson")
    assert missing(package)[0].startswith("pyarrow<1 (installed: ")


def test_nothing_declared(tmp_path):
    (tmp_path / "plugin.py").write_text("")
    assert not declared(tmp_path / "plugin.py")
    assert missing_hint(tmp_path / "plugin.py") == ""
