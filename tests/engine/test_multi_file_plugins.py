"""Upstream's multi-file plugins: a directory whose `__main__.py` imports its siblings by
plain name, loaded without leaving those names importable by anyone else."""

from __future__ import annotations

import json
import sys

from timewell.engine.plugins import LoadedPlugin


def test_siblings_import_by_plain_name_and_do_not_leak(tmp_path):
    plugin = tmp_path / "multi"
    plugin.mkdir()
    (plugin / "helper.py").write_text("def double(x):\n    return 2 * x\n")
    (plugin / "json.py").write_text("SHADOW = True\n")  # a server module's name: not taken
    (plugin / "__main__.py").write_text(
        "from helper import double\nimport helper\nimport json\n\n"
        "def process_writes(influxdb3_local, table_batches, args=None):\n"
        "    return double(21), helper.double(1), hasattr(json, 'dumps')\n")
    loaded = LoadedPlugin(plugin, "t1")
    assert loaded.function("process_writes")(None, []) == (42, 2, True)
    assert "helper" not in sys.modules
    assert sys.modules["json"] is json
