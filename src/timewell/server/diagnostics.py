"""What InfluxQL's `SHOW DIAGNOSTICS` and `SHOW STATS` report: a small, honest subset of
InfluxDB 1.x's modules, filled from the node and its metrics.

Diagnostics (facts about the process): `build`, `network`, `runtime`, `system`, with 1.x's
column names where the fact is the same (`Version`, `hostname`, `PID`, `uptime` ...) and our
own where it differs (Python, not Go). Stats (counters since the start): `httpd`,
`queryExecutor`, `write`, `runtime` and one `database` row per database.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import socket
import sys
import time
from typing import TYPE_CHECKING

from timewell import __version__
from timewell.query.influxql.show import go_duration

if TYPE_CHECKING:
    from timewell.node import Node
    from timewell.server.metrics import NodeMetrics

Module = tuple[str, dict[str, str], dict[str, object]]
"""A module's name, its tags and its columns' values."""


class NodeDiagnostics:
    def __init__(self, node: Node, metrics: NodeMetrics) -> None:
        self._node = node
        self._metrics = metrics
        self._started = time.time_ns()

    def diagnostics(self) -> list[Module]:
        now = time.time_ns()
        return [
            ("build", {}, {"Branch": "", "Build Time": "", "Commit": "",
                           "Version": __version__}),
            ("network", {}, {"hostname": socket.gethostname()}),
            ("runtime", {}, {"arch": platform.machine(), "cpus": os.cpu_count() or 1,
                             "os": sys.platform, "python": platform.python_version()}),
            ("system", {}, {"PID": os.getpid(), "currentTime": _rfc3339(now),
                            "started": _rfc3339(self._started),
                            "uptime": go_duration(now - self._started)}),
        ]

    def stats(self) -> list[Module]:
        requests = _samples(self._metrics.http_requests)

        def count(predicate) -> int:
            return int(sum(v for labels, v in requests if predicate(labels)))

        def is_query(labels) -> bool:
            return labels["endpoint"] in ("/query", "/api/v3/query_sql", "/api/v3/query_influxql")

        def is_write(labels) -> bool:
            return labels["endpoint"] in ("/write", "/api/v2/write", "/api/v3/write_lp")

        written = sum(v for _, v in _samples(self._metrics.lines_written))
        rejected = sum(v for _, v in _samples(self._metrics.lines_rejected))
        log = self._node.query.log
        running = sum(1 for r in log.table().column("running").to_pylist() if r)
        modules: list[Module] = [
            ("httpd", {"bind": self._node.settings.http_bind}, {
                "clientError": count(lambda lb: lb["status"].startswith("4")),
                "pingReq": count(lambda lb: lb["endpoint"] == "/ping"),
                "pointsWrittenFail": int(rejected),
                "pointsWrittenOK": int(written),
                "queryReq": count(is_query),
                "req": count(lambda lb: True),
                "serverError": count(lambda lb: lb["status"].startswith("5")),
                "writeReq": count(is_write),
            }),
            ("queryExecutor", {}, {
                "queriesActive": running,
                "queriesExecuted": log.started_total,
                "queriesFinished": log.finished_total,
            }),
            ("runtime", {}, {
                "maxRSSBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "threads": len(os.listdir("/proc/self/task")) if os.path.isdir(
                    "/proc/self/task") else 0,
            }),
        ]
        catalog = self._node.catalog
        with catalog.lock:
            databases = {d.name: list(d.live_tables()) for d in catalog.live_databases()}
        for name, tables in sorted(databases.items()):
            series = sum(self._node.query.series(name, t).num_rows for t in tables)
            modules.append(("database", {"database": name},
                            {"numMeasurements": len(tables), "numSeries": series}))
        return modules


def _samples(metric) -> list[tuple[dict[str, str], float]]:
    """A labelled counter's current values (its `_total` samples)."""
    return [(sample.labels, sample.value) for family in metric.collect()
            for sample in family.samples if sample.name.endswith("_total")]


def _rfc3339(ns: int) -> str:
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"
