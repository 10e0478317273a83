"""The server's settings: one typed object, built by the CLI from flags and environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path("~/.timewell").expanduser())
    node_id: str = "local"
    http_bind: str = "127.0.0.1:8181"
    object_store: str = "file"  # file | memory
    wal_flush_interval_s: float = 1.0
    max_http_request_size: int = 10 * 1024 * 1024
    max_columns_per_table: int = 500
    max_string_bytes: int = 64 * 1024
    plugin_dir: Path | None = None
    plugin_timeout_s: float | None = None
    without_auth: bool = False
    log_level: str = "info"

    @property
    def host(self) -> str:
        return self.http_bind.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.http_bind.rsplit(":", 1)[1])
