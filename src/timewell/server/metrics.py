"""`/metrics`: the node's counters in Prometheus text format.

One `CollectorRegistry` per node (never prometheus-client's global one). HTTP requests are
counted by an ASGI middleware under their route template (`/api/v3/engine/{path:path}`, not
the raw path) so the label set stays bounded; writes, WAL flushes and queries are observed
through hooks of the write service, the WAL (as a subscriber) and the query log; the processing
engine's per-trigger counters, the buffer's size and the writes refused at its limit are read
when scraped. Every series carries the node's `node_id` label (`--node-id`), as upstream's do, so
the scrapes of several nodes can be told apart.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from timewell.engine.stats import EngineStats
from timewell.node import Node
from timewell.query.log import QueryRecord
from timewell.storage.wal import WalFlush

_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                 5.0, 10.0, 30.0)
_UNMATCHED = "unmatched"
_ROUTE_CACHE_LIMIT = 4096


class NodeMetrics:
    def __init__(self, node: Node) -> None:
        self.registry = CollectorRegistry()
        self.node_id = node.settings.node_id
        registry = self.registry
        self.http_requests = Counter(
            "timewell_http_requests", "HTTP requests answered, by route template and status.",
            ["method", "endpoint", "status"], registry=registry)
        self.http_duration = Histogram(
            "timewell_http_request_duration_seconds",
            "Time from request start to the end of the response, by route template.",
            ["method", "endpoint"], buckets=_FAST_BUCKETS, registry=registry)
        self.lines_written = Counter(
            "timewell_write_lines", "Lines of line protocol written, per database.",
            ["database"], registry=registry)
        self.lines_rejected = Counter(
            "timewell_write_lines_rejected", "Lines of line protocol rejected, per database.",
            ["database"], registry=registry)
        self.wal_flush = Histogram(
            "timewell_wal_flush_duration_seconds",
            "Time to write and fsync one WAL file.", buckets=_FAST_BUCKETS, registry=registry)
        self.query_duration = Histogram(
            "timewell_query_duration_seconds", "Query run time, by language and outcome.",
            ["query_type", "success"], buckets=_FAST_BUCKETS, registry=registry)
        registry.register(_TriggerCollector(node.engine.stats))
        registry.register(_BufferCollector(node))
        self._wal = node.wal
        node.wal.subscribe(self)
        node.writer.observers.append(self._on_write)
        node.query.log.observers.append(self._on_query)

    def on_flush(self, flush: WalFlush) -> None:
        if not flush.replayed:
            self.wal_flush.observe(self._wal.last_flush_seconds)

    def _on_write(self, database: str, written: int, rejected: int) -> None:
        if written:
            self.lines_written.labels(database).inc(written)
        if rejected:
            self.lines_rejected.labels(database).inc(rejected)

    def _on_query(self, record: QueryRecord) -> None:
        if record.duration_ns is not None:
            self.query_duration.labels(record.query_type, str(record.success).lower()).observe(
                record.duration_ns / 1e9)

    def render(self) -> bytes:
        return generate_latest(_Labelled(self.registry, {"node_id": self.node_id}))


class _Labelled:
    """A registry's metrics with `labels` added to every sample (the exposition prints a
    sample's labels sorted by name)."""

    def __init__(self, registry: CollectorRegistry, labels: dict[str, str]) -> None:
        self._registry = registry
        self._labels = labels

    def collect(self):
        for family in self._registry.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [sample._replace(labels={**sample.labels, **self._labels})
                                for sample in family.samples]
            yield labelled


class _TriggerCollector:
    """Per-trigger runs, errors and run durations from the engine's stats, when scraped."""

    def __init__(self, stats: EngineStats) -> None:
        self._stats = stats

    def collect(self):
        labels = ["database", "trigger"]
        runs = CounterMetricFamily("timewell_trigger_runs", "Plugin runs per trigger.",
                                   labels=labels)
        errors = CounterMetricFamily("timewell_trigger_errors",
                                     "Plugin runs that raised, per trigger.", labels=labels)
        durations = SummaryMetricFamily("timewell_trigger_run_duration_seconds",
                                        "Plugin run time per trigger.", labels=labels)
        recent = GaugeMetricFamily(
            "timewell_trigger_recent_run_duration_seconds",
            "Quantiles of the last 1000 plugin run times per trigger.",
            labels=[*labels, "quantile"])
        cpu = SummaryMetricFamily("timewell_trigger_run_cpu_seconds",
                                  "CPU time of plugin runs per trigger.", labels=labels)
        recent_cpu = GaugeMetricFamily(
            "timewell_trigger_recent_run_cpu_seconds",
            "Quantiles of the CPU time of the last 1000 plugin runs per trigger.",
            labels=[*labels, "quantile"])
        memory = GaugeMetricFamily(
            "timewell_trigger_worker_peak_memory_bytes",
            "Peak resident memory of the trigger's plugin worker processes.", labels=labels)
        restarts = CounterMetricFamily(
            "timewell_trigger_worker_restarts",
            "Plugin worker processes replaced, per trigger and cause (timeout, memory, crash, "
            "cancelled).", labels=[*labels, "cause"])
        lag_flushes = GaugeMetricFamily(
            "timewell_trigger_lag_flushes",
            "WAL flushes with rows for the write trigger that it has not processed yet.",
            labels=labels)
        lag_rows = GaugeMetricFamily(
            "timewell_trigger_lag_rows", "Rows the write trigger has not processed yet.",
            labels=labels)
        lag_seconds = GaugeMetricFamily(
            "timewell_trigger_lag_seconds",
            "Age of the oldest WAL flush the write trigger has not processed yet.",
            labels=labels)
        skipped_rows = CounterMetricFamily(
            "timewell_trigger_skipped_rows",
            "Rows a write trigger never saw: their WAL was removed past --trigger-max-lag.",
            labels=labels)
        redelivered = CounterMetricFamily(
            "timewell_trigger_redelivered_flushes",
            "WAL flushes delivered again after a restart (at-least-once).", labels=labels)
        for database, trigger, stats in sorted(self._stats.snapshot(),
                                               key=lambda item: item[:2]):
            key = [database, trigger]
            position = self._stats.position(database, trigger)
            if position is not None:
                lag_flushes.add_metric(key, position[1].flushes)
                lag_rows.add_metric(key, position[1].rows)
                lag_seconds.add_metric(key, position[1].seconds)
                skipped_rows.add_metric(key, stats.skipped_rows)
                redelivered.add_metric(key, stats.redelivered_flushes)
            runs.add_metric(key, stats.runs)
            errors.add_metric(key, stats.errors)
            durations.add_metric(key, count_value=stats.runs, sum_value=stats.total_run_s)
            ordered = sorted(stats.durations_s)
            ordered_cpu = sorted(stats.cpu_s)
            for q in (0.5, 0.99):
                if ordered:
                    value = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
                    recent.add_metric([*key, str(q)], value)
                if ordered_cpu:
                    value = ordered_cpu[min(len(ordered_cpu) - 1, int(q * len(ordered_cpu)))]
                    recent_cpu.add_metric([*key, str(q)], value)
            cpu.add_metric(key, count_value=len(stats.cpu_s) and stats.runs,
                           sum_value=stats.total_cpu_s)
            if stats.peak_memory_bytes is not None:
                memory.add_metric(key, stats.peak_memory_bytes)
            for cause, count in sorted(stats.restart_causes.items()):
                restarts.add_metric([*key, cause], count)
        yield from (runs, errors, durations, recent, cpu, recent_cpu, memory, restarts,
                    lag_flushes, lag_rows, lag_seconds, skipped_rows, redelivered)


class _BufferCollector:
    """Buffered bytes against --buffer-mem-limit, and the writes refused there, when scraped."""

    def __init__(self, node: Node) -> None:
        self._node = node

    def collect(self):
        backpressure = self._node.backpressure
        buffered = GaugeMetricFamily(
            "timewell_buffer_bytes",
            "Bytes of written data held in memory until a snapshot writes them to Parquet.",
            value=self._node.buffer.nbytes)
        limit = GaugeMetricFamily(
            "timewell_buffer_limit_bytes",
            "--buffer-mem-limit: writes are refused (503) while the buffer holds this much.",
            value=backpressure.limit_bytes)
        refused = CounterMetricFamily("timewell_writes_refused",
                                      "Writes refused with 503 to protect the server, by reason.",
                                      labels=["reason"])
        refused.add_metric(["buffer_full"], backpressure.refused)
        yield from (buffered, limit, refused)
        cache = self._node.parquet_cache
        if cache is not None:
            yield GaugeMetricFamily(
                "timewell_parquet_cache_bytes",
                "Bytes of decoded Parquet row groups and merged recent files kept for queries "
                "(--parquet-mem-cache-size).",
                value=cache.nbytes)
            lookups = CounterMetricFamily("timewell_parquet_cache_lookups",
                                          "Row groups queries asked the Parquet cache for.",
                                          labels=["result"])
            lookups.add_metric(["hit"], cache.hits)
            lookups.add_metric(["miss"], cache.misses)
            yield lookups
            yield GaugeMetricFamily(
                "timewell_parquet_cache_merged_files",
                "Recent Parquet files that queries read as one merged run per table.",
                value=self._node.data.merges.merged_files())


class HttpMetricsMiddleware:
    """Counts and times every HTTP request under its route template."""

    def __init__(self, app: ASGIApp, metrics: NodeMetrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self._metrics = metrics
        self._routes = routes
        self._templates: dict[tuple[str, str], str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"]
            endpoint = self._template(method, scope)
            self._metrics.http_requests.labels(method, endpoint, str(status)).inc()
            self._metrics.http_duration.labels(method, endpoint).observe(
                time.perf_counter() - started)

    def _template(self, method: str, scope: Scope) -> str:
        key = (method, scope["path"])
        template = self._templates.get(key)
        if template is None:
            template = _UNMATCHED
            for route in self._routes:
                match, _ = route.matches(scope)
                if match is not Match.NONE:
                    template = getattr(route, "path", _UNMATCHED)
                    break
            if len(self._templates) < _ROUTE_CACHE_LIMIT:
                self._templates[key] = template
        return template


def routes(metrics: NodeMetrics) -> list[Route]:
    async def scrape(request: Request) -> Response:
        body = await run_in_threadpool(metrics.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", scrape, methods=["GET"])]
