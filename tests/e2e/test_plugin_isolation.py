"""Plugins that cannot hurt the server (worker processes, the default isolation): one plugin per
hazard against a live server, with another trigger running and a writer writing. After each:
the server answers, writes and queries work with nothing lost, the other trigger kept
running, the stats and logs name the cause, and the same trigger's next run works."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import ServerProcess
from tests.helpers import wait_for

TRIGGER_URL = "/api/v3/configure/processing_engine_trigger"

STEADY = """
def process_writes(influxdb3_local, table_batches, args):
    n = sum(len(batch["rows"]) for batch in table_batches)
    influxdb3_local.write(LineBuilder("seen").int64_field("rows", n))
"""

# Each hazard plugin answers {"ok": true, "pid": ...} unless asked for its hazard (?boom=1).
HAZARD_TEMPLATE = """
import os
{module_level}

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    if query_parameters.get("boom"):
{hazard}
    return {{"ok": True, "pid": os.getpid()}}
"""

HAZARDS = {
    "memory_hog": ("", "hog = [0] * (256 * 1024 * 1024)  # 2 GiB of pointers",
                   "memory limit of 1GiB", "memory"),
    "os_exit": ("", "os._exit(3)", "exited with status 3", "crash"),
    "segfault": ("import ctypes", "ctypes.string_at(0)", "killed by SIGSEGV", "crash"),
    "sleep_in_c": ("import time", "time.sleep(3600)", "time limit of 1s", "timeout"),
    "busy_loop": ("", "while True:\n    pass", "time limit of 1s", "timeout"),
}


class Isolated:
    """A server with process isolation, a steady write trigger and a writer thread."""

    def __init__(self, server: ServerProcess, plugin_dir: Path) -> None:
        self.server = server
        self.plugin_dir = plugin_dir
        self.http = server.client()
        self.written = 0
        self.write_errors: list[str] = []
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._write_forever, daemon=True)

    def start(self) -> Isolated:
        self.http.post("/api/v3/configure/database", json={"db": "test"})
        self.plugin("steady.py", STEADY)
        assert self.create("steady", "table:load", "steady.py").status_code == 200
        self._writer.start()
        wait_for(lambda: self.stats("steady").get("runs", 0) > 0)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._writer.join(10)

    def _write_forever(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=30) as http:
            while not self._stop.is_set():
                n = self.written
                lines = "\n".join(f"load,w=x v={n + i}i {1_000_000 + n + i}" for i in range(10))
                try:
                    response = http.post("/api/v3/write_lp", params={"db": "test"},
                                         content=lines.encode())
                    if response.status_code == 204:
                        self.written += 10
                    else:
                        self.write_errors.append(f"{response.status_code} {response.text}")
                except httpx.HTTPError as e:
                    self.write_errors.append(repr(e))
                time.sleep(0.02)

    def plugin(self, name: str, source: str) -> str:
        (self.plugin_dir / name).write_text(textwrap.dedent(source))
        return name

    def create(self, name: str, spec: str, plugin: str, **settings) -> httpx.Response:
        return self.http.post(TRIGGER_URL, json={
            "db": "test", "plugin_filename": plugin, "trigger_name": name,
            "trigger_specification": spec, "trigger_settings": settings})

    def stats(self, trigger: str) -> dict:
        rows = self.server.rows("SELECT * FROM system.processing_engine_trigger_stats "
                                f"WHERE trigger_name = '{trigger}'")
        return rows[0] if rows else {}

    def logs(self, trigger: str) -> str:
        rows = self.server.rows("SELECT log_level, log_text FROM system.processing_engine_logs "
                                f"WHERE trigger_name = '{trigger}'")
        return "\n".join(f"{r['log_level']}: {r['log_text']}" for r in rows)

    def assert_unharmed(self, steady_runs_before: int) -> None:
        """The server answers, writes and queries work with nothing lost, and the steady
        trigger kept running without an error."""
        assert self.http.get("/health").status_code == 200
        assert self.server.write("probe v=1i 1").status_code == 204
        assert self.server.rows("SELECT v FROM probe") == [{"v": 1}]
        assert not self.write_errors
        written = self.written
        wait_for(lambda: self.server.rows("SELECT count(*) AS n FROM load")[0]["n"] >= written)
        wait_for(lambda: self.stats("steady")["runs"] > steady_runs_before)
        assert self.stats("steady")["errors"] == 0


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    root = tmp_path_factory.mktemp("isolation")
    plugin_dir = root / "plugins"
    plugin_dir.mkdir()
    server = ServerProcess(root / "data", "--plugin-dir", str(plugin_dir),
                           "--plugin-shutdown-grace", "1s").start()
    engine = Isolated(server, plugin_dir).start()
    yield engine
    engine.stop()
    if server.process and server.process.poll() is None:
        server.stop(signal.SIGKILL)


def server_rss(isolated: Isolated) -> int:
    return psutil.Process(isolated.server.process.pid).memory_info().rss


@pytest.mark.parametrize("hazard", list(HAZARDS))
def test_a_hazardous_plugin_hurts_only_its_own_run(isolated, hazard):
    module_level, body, cause_text, restart_cause = HAZARDS[hazard]
    plugin = isolated.plugin(f"{hazard}.py", HAZARD_TEMPLATE.format(
        module_level=module_level, hazard=textwrap.indent(body, " " * 8)))
    assert isolated.create(hazard, f"request:{hazard}", plugin, timeout="1s").status_code == 200
    first = isolated.http.get(f"/api/v3/engine/{hazard}").json()
    steady_before = isolated.stats("steady")["runs"]
    rss_before = server_rss(isolated)

    started = time.monotonic()
    response = isolated.http.get(f"/api/v3/engine/{hazard}", params={"boom": "1"})
    assert response.status_code == 500
    assert cause_text in response.json()["error"]
    assert time.monotonic() - started < 10

    isolated.assert_unharmed(steady_before)
    assert server_rss(isolated) - rss_before < 200 * 1024 * 1024
    stats = wait_for(lambda: (s := isolated.stats(hazard)).get("worker_restarts") and s)
    assert stats["worker_restarts"] == 1
    assert stats["worker_restart_causes"] == f"{restart_cause}=1"
    assert cause_text in stats["last_error"]
    assert cause_text in isolated.logs(hazard)
    again = isolated.http.get(f"/api/v3/engine/{hazard}")
    assert again.status_code == 200 and again.json()["ok"] is True
    assert again.json()["pid"] != first["pid"]  # a new worker


def test_a_dying_worker_is_a_failed_run_under_the_trigger_error_behavior(isolated):
    marker = isolated.plugin_dir / "crashed_once"
    isolated.plugin("crash_once.py", f"""
        import ctypes
        import os

        def process_writes(influxdb3_local, table_batches, args):
            if not os.path.exists({str(marker)!r}):
                open({str(marker)!r}, "w").close()
                ctypes.string_at(0)
            influxdb3_local.write(LineBuilder("recovered").int64_field("ok", 1))
    """)
    isolated.plugin("always_exits.py", """
        import os

        def process_writes(influxdb3_local, table_batches, args):
            os._exit(3)
    """)
    assert isolated.create("retrier", "table:crashes", "crash_once.py",
                           error_behavior="retry").status_code == 200
    assert isolated.create("disabler", "table:crashes", "always_exits.py",
                           error_behavior="disable").status_code == 200
    steady_before = isolated.stats("steady")["runs"]
    assert isolated.server.write("crashes v=1i 1").status_code == 204
    # retry: the retried event runs in a new worker and succeeds
    assert wait_for(lambda: isolated.server.query("SELECT ok FROM recovered").status_code == 200
                    and isolated.server.rows("SELECT ok FROM recovered")) == [{"ok": 1}]
    stats = isolated.stats("retrier")
    assert (stats["errors"], stats["retries"], stats["worker_restart_causes"]) == (1, 1,
                                                                                    "crash=1")
    assert "killed by SIGSEGV" in stats["last_error"]
    # disable: the trigger is disabled, saying why
    wait_for(lambda: isolated.server.rows(
        "SELECT disabled FROM system.processing_engine_triggers "
        "WHERE trigger_name = 'disabler'") == [{"disabled": True}])
    assert "trigger disabled after an error" in isolated.logs("disabler")
    assert "exited with status 3" in isolated.logs("disabler")
    isolated.assert_unharmed(steady_before)


def test_module_level_monkeypatching_stays_in_its_worker(isolated):
    isolated.plugin("patcher.py", """
        import builtins
        import json

        json.dumps = None
        builtins.print = None

        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            return {"dumps": repr(json.dumps), "print": repr(print)}
    """)
    isolated.plugin("user.py", """
        import json

        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            print("print works")
            return json.dumps({"fine": True})
    """)
    assert isolated.create("patcher", "request:patcher", "patcher.py").status_code == 200
    assert isolated.create("user", "request:user", "user.py").status_code == 200
    steady_before = isolated.stats("steady")["runs"]
    assert isolated.http.get("/api/v3/engine/patcher").json() == {"dumps": "None",
                                                                 "print": "None"}
    assert isolated.http.get("/api/v3/engine/user").text == '{"fine": true}'
    isolated.assert_unharmed(steady_before)


def test_threads_files_and_forks_of_a_plugin_stay_in_its_worker(isolated):
    isolated.plugin("leaky.py", """
        import os
        import threading
        import time

        def forever():
            while True:
                time.sleep(1)

        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            threading.Thread(target=forever).start()  # never ends, not a daemon
            files = [open(os.devnull) for _ in range(500)]
            child = os.fork()
            if child == 0:
                try:
                    influxdb3_local.info("from the child")
                except RuntimeError:
                    pass
                return {"child": True}  # the worker makes sure this goes nowhere
            return {"files": len(files), "threads": threading.active_count(), "child": child}
    """)
    server = psutil.Process(isolated.server.process.pid)
    fds_before = server.num_fds()
    assert isolated.create("leaky", "request:leaky", "leaky.py").status_code == 200
    steady_before = isolated.stats("steady")["runs"]
    for _ in range(2):
        answer = isolated.http.get("/api/v3/engine/leaky")
        assert answer.status_code == 200, answer.text
        assert answer.json()["files"] == 500 and answer.json()["child"] > 0
    isolated.assert_unharmed(steady_before)
    assert server.num_fds() < fds_before + 20  # the 1,000 files stay open in the worker
    assert isolated.stats("leaky")["errors"] == 0
    # deleting the trigger ends its worker, threads and all, within the grace period
    worker = answer.json()
    started = time.monotonic()
    response = isolated.http.delete(TRIGGER_URL, params={"db": "test", "trigger_name": "leaky",
                                                         "force": "true"})
    assert response.status_code == 200
    assert time.monotonic() - started < 5
    assert worker["child"] not in [p.pid for p in server.children(recursive=True)]


BLOCKED = """
import time

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    influxdb3_local.info("blocking")
    time.sleep(float(query_parameters.get("sleep", "3600")))
    influxdb3_local.info("this call raises KeyboardInterrupt once cancelled")
    return {"finished": True}
"""


def _blocked_request(isolated: Isolated, path: str, sleep: str, box: dict) -> threading.Thread:
    def call() -> None:
        box["response"] = isolated.http.get(f"/api/v3/engine/{path}", params={"sleep": sleep},
                                            timeout=60)

    thread = threading.Thread(target=call)
    thread.start()
    wait_for(lambda: "blocking" in isolated.logs(path))
    return thread


@pytest.mark.parametrize("action", ["disable", "delete"])
def test_disable_or_delete_cancels_a_blocked_run(isolated, action):
    name = f"blocked_{action}"
    isolated.plugin(f"{name}.py", BLOCKED)
    assert isolated.create(name, f"request:{name}", f"{name}.py").status_code == 200
    # a run that calls influxdb3_local within the grace period gets KeyboardInterrupt
    box: dict = {}
    thread = _blocked_request(isolated, name, "0.5", box)
    target = {"db": "test", "trigger_name": name}
    started = time.monotonic()
    if action == "disable":
        response = isolated.http.post(f"{TRIGGER_URL}/disable", params=target)
    else:
        response = isolated.http.delete(TRIGGER_URL, params={**target, "force": "true"})
    assert response.status_code == 200
    thread.join(10)
    assert time.monotonic() - started < 1.0 + 3
    assert box["response"].status_code == 500
    assert ("KeyboardInterrupt: timewell is shutting down; aborting plugin execution"
            in box["response"].json()["error"])
    assert isolated.http.get("/health").status_code == 200


def test_a_run_blocked_past_the_grace_period_is_killed(isolated):
    isolated.plugin("stuck.py", BLOCKED)
    assert isolated.create("stuck", "request:stuck", "stuck.py").status_code == 200
    box: dict = {}
    thread = _blocked_request(isolated, "stuck", "3600", box)
    started = time.monotonic()
    response = isolated.http.post(f"{TRIGGER_URL}/disable",
                                  params={"db": "test", "trigger_name": "stuck"})
    assert response.status_code == 200
    thread.join(10)
    assert 0.9 < time.monotonic() - started < 1.0 + 3  # the grace period, then the kill
    assert box["response"].status_code == 500
    assert "killed by the server" in box["response"].json()["error"]
    stats = isolated.stats("stuck")
    assert stats["worker_restart_causes"] == "cancelled=1"


def test_sigterm_with_a_blocked_plugin_stops_within_the_grace_period(make_server, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "stuck.py").write_text(textwrap.dedent(BLOCKED))
    server = make_server("--plugin-dir", str(plugin_dir), "--plugin-shutdown-grace", "1s")
    http = server.client()
    http.post("/api/v3/configure/database", json={"db": "test"})
    response = http.post(TRIGGER_URL, json={
        "db": "test", "plugin_filename": "stuck.py", "trigger_name": "stuck",
        "trigger_specification": "request:stuck"})
    assert response.status_code == 200
    box: dict = {}

    def call() -> None:
        box["response"] = http.get("/api/v3/engine/stuck", timeout=60)

    thread = threading.Thread(target=call)
    thread.start()
    workers = wait_for(lambda: psutil.Process(server.process.pid).children(recursive=True))
    time.sleep(0.3)
    started = time.monotonic()
    assert server.stop(signal.SIGTERM, timeout=30) == 0
    assert time.monotonic() - started < 1.0 + 4
    thread.join(10)
    assert box["response"].status_code == 500
    # the fork server and every worker leave with the server
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive


def test_dataclass_plugin_loads_and_its_objects_survive_the_cache_across_a_restart(
        make_server, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "dc.py").write_text(textwrap.dedent("""
        import enum
        import pickle
        import typing
        from dataclasses import dataclass, field

        @enum.unique
        class Level(enum.Enum):
            LOW = 1
            HIGH = 2

        @dataclass
        class Config:
            n: int = 1
            tags: list[str] = field(default_factory=list)
            level: Level = Level.LOW

        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            config = influxdb3_local.cache.get("config")
            if config is None:
                config = Config(tags=["a"])
            config.n += 1
            influxdb3_local.cache.put("config", config)
            return {"config": str(config), "hints": str(typing.get_type_hints(Config)["n"]),
                    "round_trip": pickle.loads(pickle.dumps(config)) == config,
                    "module": __name__ in __import__("sys").modules}
    """))
    server = make_server("--plugin-dir", str(plugin_dir))
    http = server.client()
    http.post("/api/v3/configure/database", json={"db": "test"})
    response = http.post(TRIGGER_URL, json={
        "db": "test", "plugin_filename": "dc.py", "trigger_name": "dc",
        "trigger_specification": "request:dc"})
    assert response.status_code == 200, response.text
    first = http.get("/api/v3/engine/dc").json()
    assert first == {"config": "Config(n=2, tags=['a'], level=<Level.LOW: 1>)",
                     "hints": "<class 'int'>", "round_trip": True, "module": True}
    # no waiting: a worker told to stop sends what its runs touched before it leaves
    assert server.stop(signal.SIGTERM) == 0
    assert "cannot be pickled" not in server.log()
    server.start()
    http = server.client()
    assert http.get("/api/v3/engine/dc").json()["config"] == (
        "Config(n=3, tags=['a'], level=<Level.LOW: 1>)")


def test_restricted_trigger_kinds_are_refused_with_403(make_server, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "r.py").write_text("def process_request(a, q, h, b, args):\n    return 'x'\n")
    server = make_server("--plugin-dir", str(plugin_dir),
                         "--restrict-plugin-triggers-to", "wal,schedule")
    http = server.client()
    http.post("/api/v3/configure/database", json={"db": "test"})
    response = http.post(TRIGGER_URL, json={
        "db": "test", "plugin_filename": "r.py", "trigger_name": "r",
        "trigger_specification": "request:r"})
    assert response.status_code == 403
    assert "--restrict-plugin-triggers-to wal,schedule" in response.json()["error"]


def test_plugin_code_never_runs_in_the_server_process(isolated):
    isolated.plugin("where.py", """
        import os

        LOADED_IN = os.getpid()

        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            return ({"loaded": LOADED_IN, "ran": os.getpid()}, 200)
    """)
    assert isolated.create("where", "request:where", "where.py").status_code == 200
    answer = isolated.http.get("/api/v3/engine/where").json()
    server_pid = isolated.server.process.pid
    assert answer["loaded"] != server_pid and answer["ran"] != server_pid
    assert answer["loaded"] == answer["ran"]  # module state lives in the trigger's worker
    stats = isolated.stats("where")
    assert stats["mean_cpu_ms"] is not None and stats["worker_peak_memory_bytes"] > 0
    metrics = isolated.http.get("/metrics").text
    assert ('timewell_trigger_worker_peak_memory_bytes{database="test",node_id="local",'
            'trigger="where"}') in metrics
    assert "timewell_trigger_run_cpu_seconds_sum" in metrics


def test_write_trigger_tables_arrive_as_arrow_in_the_worker(isolated):
    isolated.plugin("arrow.py", """
        import pyarrow.compute as pc

        def process_writes(influxdb3_local, table_batches, args):
            for batch in table_batches:
                total = pc.sum(batch.arrow.column("v")).as_py()
                influxdb3_local.write(LineBuilder("sums").int64_field("total", total)
                                      .int64_field("rows", len(batch["rows"])))
    """)
    assert isolated.create("arrow", "table:numbers", "arrow.py").status_code == 200
    isolated.server.write("numbers v=1i 1\nnumbers v=2i 2\nnumbers v=39i 3")
    rows = wait_for(lambda: isolated.server.query("SELECT total, rows FROM sums").status_code
                    == 200 and isolated.server.rows("SELECT total, rows FROM sums"))
    assert rows == [{"total": 42, "rows": 3}]


def test_thread_isolation_keeps_plugins_in_the_server(make_server, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "pid.py").write_text(textwrap.dedent("""
        import os

        def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                            args):
            return {"pid": os.getpid()}
    """))
    server = make_server("--plugin-dir", str(plugin_dir), "--plugin-isolation", "thread")
    http = server.client()
    http.post("/api/v3/configure/database", json={"db": "test"})
    http.post(TRIGGER_URL, json={"db": "test", "plugin_filename": "pid.py",
                                 "trigger_name": "pid", "trigger_specification": "request:pid"})
    assert http.get("/api/v3/engine/pid").json() == {"pid": server.process.pid}
    assert os.getpid() != server.process.pid


def test_async_trigger_concurrency_limit_bounds_overlapping_runs(make_server, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "slow.py").write_text(textwrap.dedent("""
        import time

        def process_writes(influxdb3_local, table_batches, args):
            started = time.time_ns()
            time.sleep(0.3)
            influxdb3_local.write(LineBuilder("spans").int64_field("start", started)
                                  .int64_field("end", time.time_ns()))
    """))
    server = make_server("--plugin-dir", str(plugin_dir), "--async-trigger-concurrency-limit",
                         "1")
    http = server.client()
    http.post("/api/v3/configure/database", json={"db": "test"})
    for name in ("a", "b"):
        response = http.post(TRIGGER_URL, json={
            "db": "test", "plugin_filename": "slow.py", "trigger_name": name,
            "trigger_specification": "table:cpu", "trigger_settings": {"run_async": True}})
        assert response.status_code == 200
    for i in range(2):
        server.write(f"cpu v={i} {i + 1}")
        time.sleep(0.05)
    sql = 'SELECT start, "end" FROM spans ORDER BY start'
    spans = wait_for(lambda: server.query(sql).status_code == 200
                     and len(rows := server.rows(sql)) == 4 and rows)
    for earlier, later in zip(spans, spans[1:], strict=False):
        assert earlier["end"] <= later["start"]  # never two at once, over both triggers
