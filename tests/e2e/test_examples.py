"""The example plugins in examples/plugins/, deployed as docs/plugins.md shows: the file copied
into the plugin directory, the trigger created with `timewell create trigger`."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.e2e.test_cli import timewell
from tests.e2e.test_engine import wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"


class Deployment:
    """A server with a plugin directory, driven through the CLI like a user would."""

    def __init__(self, server: ServerProcess, plugin_dir: Path) -> None:
        self.server = server
        self.plugin_dir = plugin_dir
        self.env = {**os.environ, "TIMEWELL_HOST_URL": server.url}

    def cli(self, *args: str):
        result = timewell(self.env, *args)
        assert result.returncode == 0, result.stderr
        return result

    def deploy(self, example: str, db: str, *create_args: str) -> None:
        shutil.copy(EXAMPLES / example, self.plugin_dir / example)
        self.cli("create", "database", db)
        self.cli("create", "trigger", *create_args, "-d", db, "--path", example)

    def rows(self, sql: str, db: str) -> list[dict]:
        response = self.server.query(sql, db=db)
        return response.json() if response.status_code == 200 else []

    def logs(self, trigger: str, db: str) -> list[str]:
        return [r["log_text"] for r in self.rows(
            "SELECT log_text FROM system.processing_engine_logs "
            f"WHERE trigger_name = '{trigger}' ORDER BY event_time", db)]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Deployment:
    root = tmp_path_factory.mktemp("examples")
    plugin_dir = root / "plugins"
    plugin_dir.mkdir()
    server = ServerProcess(root / "data", "--plugin-dir", str(plugin_dir),
                           "--plugin-timeout", "5s")
    # Not UTC, and not a whole hour off: plugins must not read call_time as local time.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "IST-5:30")
        server.start()
    yield Deployment(server, plugin_dir)
    if server.process and server.process.poll() is None:
        server.stop(signal.SIGKILL)


def test_threshold_alert(deployment):
    deployment.deploy("threshold_alert.py", "alerting", "cpu_alerts", "--trigger-spec",
                      "table:cpu", "--trigger-arguments", "field=usage,threshold=90")
    response = deployment.server.write(
        "cpu,host=a usage=95 1700000000\n"
        "cpu,host=b usage=97.5 1700000000\n"  # same instant, another series: its own alert
        "cpu,host=c usage=50 1700000000\n"
        "cpu,host=d idle=99 1700000000\n", db="alerting", precision="s")
    assert response.status_code == 204, response.text
    alerts = wait_for(lambda: deployment.rows(
        "SELECT host, source, field, value, time FROM alerts ORDER BY host", "alerting"))
    assert alerts == [
        {"host": "a", "source": "cpu", "field": "usage", "value": 95.0,
         "time": "2023-11-14T22:13:20"},
        {"host": "b", "source": "cpu", "field": "usage", "value": 97.5,
         "time": "2023-11-14T22:13:20"},
    ]
    assert "2 alert(s) over 90.0 on 'usage'" in deployment.logs("cpu_alerts", "alerting")
    # its own output table is another table, so the table:cpu trigger ran exactly once
    time.sleep(0.2)
    stats = deployment.rows("SELECT runs, errors FROM system.processing_engine_trigger_stats "
                            "WHERE trigger_name = 'cpu_alerts'", "alerting")
    assert stats == [{"runs": 1, "errors": 0}]


def test_periodic_summary(deployment):
    db = "summaries"
    deployment.cli("create", "database", db)
    deployment.server.write("cpu,host=a usage=1 1700000000\ncpu,host=a usage=2 1700000001\n"
                            "cpu,host=b usage=3 1700000000", db=db, precision="s")
    shutil.copy(EXAMPLES / "periodic_summary.py", deployment.plugin_dir)
    deployment.cli("create", "trigger", "cpu_summary", "-d", db, "--trigger-spec", "every:1s",
                   "--path", "periodic_summary.py", "--trigger-arguments", "table=cpu")
    # the first run counts everything up to its call time
    first = wait_for(lambda: deployment.rows(
        "SELECT rows, \"table\", time FROM summary ORDER BY time LIMIT 1", db))[0]
    assert first["rows"] == 3 and first["table"] == "cpu"
    # rows stamped two seconds ahead are counted by the run whose call time reaches them, and
    # the summary row carries that call time in UTC whatever the server's time zone
    ahead_s = int(time.time()) + 2
    deployment.server.write(f"cpu,host=a usage=4 {ahead_s}\ncpu,host=c usage=5 {ahead_s}",
                            db=db, precision="s")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ahead_s))
    summary = wait_for(lambda: deployment.rows(
        f"SELECT rows FROM summary WHERE time = '{stamp}'", db), timeout=6)
    assert summary == [{"rows": 2}]
    counted = deployment.rows("SELECT sum(rows) AS n FROM summary", db)
    assert counted == [{"n": 5}]  # every row counted exactly once
    assert any(line.startswith("2 new row(s) in cpu at ")
               for line in deployment.logs("cpu_summary", db))


def test_latest_values(deployment):
    deployment.deploy("latest_values.py", "latest", "latest", "--trigger-spec",
                      "request:latest")
    url = "/api/v3/engine/latest"
    with deployment.server.client() as http:
        written = http.post(url, content=(
            "mem,host=a used=1i 1000000000\n"
            "mem,host=a used=2i 2000000000\n"
            "\n"
            "mem,host=b used=3i,free=7i 1500000000\n"))
        assert written.status_code == 200 and written.json() == {"written": 3}
        assert deployment.rows("SELECT count(*) AS n FROM mem", "latest") == [{"n": 3}]
        latest = http.get(url, params={"table": "mem"})
        assert latest.status_code == 200
        assert latest.json() == {"table": "mem", "rows": [
            {"host": "a", "time": 2000000000, "used": 2},
            {"host": "b", "time": 1500000000, "used": 3, "free": 7},
        ]}
        refused = http.post(url, content="mem,host=c used=oops 3000000000")
        assert refused.status_code == 400 and "oops" in refused.json()["error"]
        assert deployment.rows("SELECT count(*) AS n FROM mem", "latest") == [{"n": 3}]
        missing = http.get(url)
        assert missing.status_code == 400 and missing.json() == {"error": "pass ?table=<name>"}
        unknown = http.get(url, params={"table": "nope"})
        assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
        # a quote in the name is part of the name, not SQL
        assert http.get(url, params={"table": "mem' --"}).status_code == 404
