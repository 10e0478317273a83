"""The server's settings: one typed object, built by the CLI from flags and environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class StorageSettings:
    """Where data lives and when it moves from the buffer to Parquet files."""

    bucket: str | None = None
    aws_endpoint: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_default_region: str | None = None
    aws_allow_http: bool = False
    gen1_duration_ns: int = 10 * 60 * 1_000_000_000
    wal_snapshot_size: int = 600
    snapshot_memory_threshold_bytes: int = 1 << 30
    hard_delete_default_duration_ns: int = 72 * 3600 * 1_000_000_000
    maintenance_interval_s: float = 30.0  # retention, hard deletes, compaction
    # decoded row groups of recent Parquet files kept for queries; 0: no cache
    parquet_cache_bytes: int = 256 << 20
    parquet_cache_recent_ns: int = 5 * 3600 * 1_000_000_000  # files newer than this are cached


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path("~/.timewell").expanduser())
    node_id: str = "local"
    http_bind: str = "127.0.0.1:8181"
    object_store: str = "file"  # file | memory | s3
    storage: StorageSettings = field(default_factory=StorageSettings)
    wal_flush_interval_s: float = 1.0
    max_http_request_size: int = 10 * 1024 * 1024
    max_columns_per_table: int = 500
    max_string_bytes: int = 64 * 1024
    plugin_dir: Path | None = None
    plugin_timeout_s: float | None = None  # None: 60 s (write, schedule), 30 s (request)
    plugin_isolation: str = "process"  # process | thread
    plugin_memory_limit_bytes: int | None = 1 << 30  # per worker process; None: no limit
    plugin_shutdown_grace_s: float = 5.0
    async_trigger_concurrency_limit: int = 32
    plugin_trigger_kinds: tuple[str, ...] = ("wal", "schedule", "request")
    trigger_max_lag_bytes: int = 1 << 30  # WAL kept for write triggers that are behind
    schedule_max_catch_up: int = 100  # missed fires a catch_up schedule runs after downtime
    plugin_repo: str | None = None  # None: the public influxdb3_plugins repository
    package_manager: str | None = None  # uv | pip | disabled; None: uv when available
    without_auth: bool = False
    disable_ui: bool = False  # no web console at /ui/
    disable_authz: frozenset[str] = frozenset()  # of health, ping, metrics
    admin_token_file: Path | None = None
    # HOST:PORT of the admin token recovery endpoint (server/recovery.py); None: not served
    admin_token_recovery_bind: str | None = None
    max_query_result_bytes: int = 100 * 1024 * 1024
    query_timeout_s: float | None = 300.0  # None: queries may run as long as they take
    exec_mem_pool_bytes: int | None = None  # DataFusion's memory pool per query; None: none
    # refuse writes (503) while this much is buffered; None: twice the snapshot threshold
    buffer_mem_limit_bytes: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    flight_bind: str | None = None  # None: Arrow Flight shares the HTTP port
    log_level: str = "info"
    # `serve --log-filter` as expanded (logfilter.py); None: just log_level
    log_filter: str | None = None

    @property
    def buffer_memory_limit(self) -> int:
        """Bytes of buffered data at which writes are refused until a snapshot succeeds."""
        if self.buffer_mem_limit_bytes is not None:
            return self.buffer_mem_limit_bytes
        return 2 * self.storage.snapshot_memory_threshold_bytes

    @property
    def host(self) -> str:
        return self.http_bind.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.http_bind.rsplit(":", 1)[1])
