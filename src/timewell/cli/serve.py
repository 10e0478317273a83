"""`timewell serve`: run a server node."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import click

from timewell.cli.plugin_options import plugin_environment_options
from timewell.cli.security_options import security_options
from timewell.cli.storage_options import storage_options, storage_settings
from timewell.config import Settings
from timewell.duration import parse_duration_ns
from timewell.logfilter import LogFilter
from timewell.storage.snapshot import parse_memory_threshold

_UVICORN_LEVELS = {"trace": "trace", "debug": "debug", "info": "info", "warn": "warning",
                   "warning": "warning", "error": "error", "off": "critical"}


def _env(name: str, *aliases: str) -> list[str]:
    return [f"TIMEWELL_{name}", *(f"INFLUXDB3_{a}" for a in aliases)]


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("~/.timewell"), show_default=True, envvar=_env("DATA_DIR"),
              help="Where the file object store keeps the WAL, catalog and data.")
@click.option("--node-id", default="local", show_default=True, envvar=_env("NODE_ID"),
              help="This node's name; its files live under <data-dir>/<node-id>/.")
@click.option("--http-bind", default="127.0.0.1:8181", show_default=True,
              envvar=_env("HTTP_BIND"), help="Address and port to listen on.")
@click.option("--object-store", type=click.Choice(["file", "memory", "s3"]), default="file",
              show_default=True, envvar=_env("OBJECT_STORE"),
              help="file: under --data-dir; s3: in --bucket; memory: lost at exit (tests).")
@click.option("--wal-flush-interval", default="1s", show_default=True,
              envvar=_env("WAL_FLUSH_INTERVAL"),
              help="How often buffered writes are made durable (10ms and up).")
@click.option("--max-http-request-size", type=int, default=10 * 1024 * 1024, show_default=True,
              envvar=_env("MAX_HTTP_REQUEST_SIZE"),
              help="Largest request body in bytes, after gzip decompression.")
@click.option("--plugin-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar=_env("PLUGIN_DIR", "PLUGIN_DIR"), help="Directory of plugin files.")
@click.option("--plugin-timeout", default=None, envvar=_env("PLUGIN_TIMEOUT"),
              help="End a plugin run after this long (e.g. 30s); default: 60s for write and "
                   "schedule triggers, 30s for request triggers. A trigger's own timeout "
                   "wins.")
@click.option("--without-auth", is_flag=True, envvar=_env("WITHOUT_AUTH", "START_WITHOUT_AUTH"),
              help="Accept requests without a token (local experiments only).")
@click.option("--disable-ui", is_flag=True, envvar=_env("DISABLE_UI"),
              help="Do not serve the web console at /ui/.")
@click.option("--buffer-mem-limit", default=None, envvar=_env("BUFFER_MEM_LIMIT"),
              help="Refuse writes (503, Retry-After) while this much written data waits in "
                   "memory for a snapshot (e.g. 10%, 2GiB); default: twice "
                   "--force-snapshot-mem-threshold.")
@click.option("--flight-bind", default=None, envvar=_env("FLIGHT_BIND"),
              help="Serve Arrow Flight on its own HOST:PORT instead of sharing the HTTP port "
                   "(clients then need query_port_overwrite).")
@click.option("--log-level", default="info", show_default=True, envvar=_env("LOG_LEVEL"),
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="The simple form of --log-filter: one level for every logger.")
@click.option("--log-filter", default=None, envvar=["TIMEWELL_LOG_FILTER", "LOG_FILTER"],
              help="Which log lines to write, in place of --log-level: comma-separated "
                   "directives, a level (trace, debug, info, warn, error, off) and/or "
                   "<logger>=<level>, e.g. 'info,timewell.engine=debug'.")
@click.option("--disable-log-filter-noise-reduction", is_flag=True,
              envvar=["TIMEWELL_DISABLE_LOG_FILTER_NOISE_REDUCTION"],
              help="With a debug or trace filter, also show the debug lines of the libraries "
                   "the server uses (httpx, asyncio, ...), held at info otherwise.")
@security_options
@storage_options
@plugin_environment_options
def serve(data_dir: Path, node_id: str, http_bind: str, object_store: str,
          wal_flush_interval: str, max_http_request_size: int, plugin_dir: Path | None,
          plugin_timeout: str | None, without_auth: bool, disable_ui: bool,
          buffer_mem_limit: str | None,
          flight_bind: str | None, log_level: str, log_filter: str | None,
          disable_log_filter_noise_reduction: bool, security: dict, plugin_environment: dict,
          **storage_flags) -> None:
    """Run the timewell server."""
    interval_ns = _checked(parse_duration_ns, wal_flush_interval, "--wal-flush-interval")
    if interval_ns < 10_000_000:
        raise click.BadParameter("must be at least 10ms", param_hint="--wal-flush-interval")
    if ":" not in http_bind or not http_bind.rsplit(":", 1)[1].isdigit():
        raise click.BadParameter("use HOST:PORT, e.g. 127.0.0.1:8181", param_hint="--http-bind")
    if flight_bind is not None and (":" not in flight_bind
                                    or not flight_bind.rsplit(":", 1)[1].isdigit()):
        raise click.BadParameter("use HOST:PORT, e.g. 127.0.0.1:8182",
                                 param_hint="--flight-bind")
    if max_http_request_size <= 0:
        raise click.BadParameter("must be positive", param_hint="--max-http-request-size")
    timeout_s = None
    if plugin_timeout:
        timeout_s = _checked(parse_duration_ns, plugin_timeout, "--plugin-timeout") / 1e9
        if timeout_s <= 0:
            raise click.BadParameter("must be positive", param_hint="--plugin-timeout")
    buffer_limit = None
    if buffer_mem_limit:
        buffer_limit = _checked(parse_memory_threshold, buffer_mem_limit, "--buffer-mem-limit")
        if buffer_limit <= 0:
            raise click.BadParameter("must be positive", param_hint="--buffer-mem-limit")
    if plugin_dir is not None and not plugin_dir.expanduser().is_dir():
        raise click.BadParameter(f"{plugin_dir} is not a directory", param_hint="--plugin-dir")
    chosen = _checked(LogFilter.parse, log_filter, "--log-filter") if log_filter else \
        LogFilter.parse(log_level)
    if not disable_log_filter_noise_reduction:
        chosen = chosen.with_noise_reduction()
    settings = Settings(
        data_dir=data_dir.expanduser(), node_id=node_id, http_bind=http_bind,
        object_store=object_store, wal_flush_interval_s=interval_ns / 1e9,
        max_http_request_size=max_http_request_size, plugin_dir=plugin_dir,
        plugin_timeout_s=timeout_s,
        without_auth=without_auth, disable_ui=disable_ui, buffer_mem_limit_bytes=buffer_limit,
        flight_bind=flight_bind, log_level=_UVICORN_LEVELS[chosen.default],
        log_filter=str(chosen),
        storage=storage_settings(**storage_flags), **security, **plugin_environment,
    )
    if object_store == "s3" and not settings.storage.bucket:
        raise click.BadParameter("--object-store s3 needs --bucket", param_hint="--bucket")
    run(settings)


def run(settings: Settings) -> None:
    import uvicorn

    from timewell.node import Node
    from timewell.server.app import build_app
    from timewell.server.auth import header_authorizer
    from timewell.server.flight import FlightEndpoint
    from timewell.server.portshare import port_sharing_protocol
    from timewell.server.protocol import MAX_HEAD_BYTES, http_protocol
    from timewell.storage.heap import use_system_allocator
    from timewell.storage.oplog import CorruptLog

    log_filter = LogFilter.parse(settings.log_filter or settings.log_level)
    logging.basicConfig(level=log_filter.default_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log_filter.apply()
    logging.getLogger(__name__).info("log_filter_active filter=%s", log_filter)
    use_system_allocator()  # before any Arrow memory is allocated (storage/heap.py says why)
    try:
        node = Node(settings)
    except CorruptLog as e:  # a damaged catalog or index: say which file and what to do
        raise click.ClickException(str(e)) from None
    app = build_app(node)
    # Arrow Flight answers on the HTTP port (HTTP/2 connections go to its private socket),
    # or on --flight-bind; its calls need a token as HTTP requests do.
    flight = FlightEndpoint(node, settings.flight_bind, authorize=None if settings.without_auth
                            else header_authorizer(node.tokens))
    http = (http_protocol() if settings.flight_bind
            else port_sharing_protocol(http_protocol(), flight.socket_path))
    config = uvicorn.Config(app, host=settings.host, port=settings.port,
                            log_level=settings.log_level, access_log=False,
                            timeout_graceful_shutdown=30, lifespan="on",
                            http=http,
                            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                            ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key)
    log_filter.apply()  # again: uvicorn's Config set its own loggers' levels
    recovery = _recovery_listener(node, settings)

    class GracefulServer(uvicorn.Server):
        """Exits 0 after a graceful shutdown on SIGTERM/SIGINT (uvicorn re-raises the signal).
        Runs the admin token recovery listener beside it, when there is one."""

        @contextlib.contextmanager
        def capture_signals(self):
            with super().capture_signals():
                yield
                self._captured_signals.clear()

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            if recovery is not None:
                recovery[0].should_exit = True
            # Cancel plugin runs now: uvicorn waits for open requests (a request trigger's
            # among them) before the node stops.
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
                loop.call_soon_threadsafe(node.engine.begin_shutdown)

        async def serve(self, sockets=None) -> None:
            if recovery is None:
                await super().serve(sockets)
                return
            listener, sock = recovery
            beside = asyncio.create_task(listener.serve(sockets=[sock]))
            try:
                await super().serve(sockets)
            finally:
                listener.should_exit = True
                await asyncio.gather(beside, return_exceptions=True)

    server = GracefulServer(config)
    stopped_because: list[str] = []

    def stop_for_good(reason: str) -> None:
        """Another server took the store over (storage/wal.py): shut down, exit 1."""
        stopped_because.append(reason)
        server.should_exit = True

    node.on_fatal = stop_for_good
    try:
        server.run()
    finally:
        flight.close()
    if not server.started:
        raise SystemExit(1)
    if stopped_because:
        raise click.ClickException(f"stopped: {stopped_because[0]}")


def _recovery_listener(node, settings: Settings):
    """`--admin-token-recovery-http-bind`: the recovery endpoint's server and its socket, bound
    now so that a taken address fails the start; None without the flag."""
    if settings.admin_token_recovery_bind is None:
        return None
    import socket

    import uvicorn

    from timewell.server.recovery import recovery_app

    host, _, port = settings.admin_token_recovery_bind.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
    except OSError as e:
        sock.close()
        raise click.ClickException(f"cannot listen on --admin-token-recovery-http-bind "
                                   f"{settings.admin_token_recovery_bind}: {e.strerror}") from None

    class RecoveryServer(uvicorn.Server):
        """Signals are the main server's: it stops this one."""

        @contextlib.contextmanager
        def capture_signals(self):
            yield

    listener: uvicorn.Server | None = None

    def stop() -> None:
        listener.should_exit = True

    config = uvicorn.Config(recovery_app(node, stop), log_config=None, access_log=False,
                            lifespan="off", timeout_graceful_shutdown=5,
                            ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key)
    listener = RecoveryServer(config)
    scheme = "https" if settings.tls_cert else "http"
    logging.getLogger(__name__).warning(
        "admin token recovery endpoint listening on %s://%s (no token needed to regenerate the "
        "operator token; it stops after one regeneration)", scheme,
        settings.admin_token_recovery_bind)
    return listener, sock


def _checked(parse, value: str, hint: str):
    try:
        return parse(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=hint) from None
