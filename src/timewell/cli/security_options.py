"""`timewell serve` flags for authentication, TLS and response limits."""

from __future__ import annotations

import functools
import stat
from pathlib import Path

import click

from timewell.auth import TokenFile
from timewell.duration import parse_duration_ns
from timewell.storage.snapshot import parse_memory_threshold

OPENABLE = ("health", "ping", "metrics")


def _env(name: str, alias: str | None = None) -> list[str]:
    return [f"TIMEWELL_{name}", f"INFLUXDB3_{alias or name}"]


_OPTIONS = [
    click.option("--admin-token-file", type=click.Path(dir_okay=False, path_type=Path),
                 default=None, envvar=_env("ADMIN_TOKEN_FILE"),
                 help="Make the token in this file valid at start (for automation): "
                      '{"token": "apiv3_...", "name": "_admin"} or the token alone.'),
    click.option("--admin-token-recovery-http-bind", default=None,
                 envvar=_env("ADMIN_TOKEN_RECOVERY_HTTP_BIND"),
                 help="Also listen on HOST:PORT (e.g. 127.0.0.1:8182) for one request: "
                      "regenerate the operator token without a token (`timewell create token "
                      "--admin --regenerate --host http://HOST:PORT`), for when it is lost. It "
                      "stops listening after that. Anyone who can reach it can take the "
                      "server over: bind it to loopback, and only while needed."),
    click.option("--disable-authz", default="", envvar=_env("DISABLE_AUTHZ"),
                 help="Comma-separated endpoints to open without a token: "
                      + ", ".join(OPENABLE) + "."),
    click.option("--max-query-result-bytes", type=int, default=100 * 1024 * 1024,
                 show_default=True, envvar=_env("MAX_QUERY_RESULT_BYTES"),
                 help="Refuse query results larger than this (Arrow size, before rendering)."),
    click.option("--exec-mem-pool-bytes", default="20%", show_default=True,
                 envvar=_env("EXEC_MEM_POOL_BYTES"),
                 help="Memory a query's sorts, joins and aggregations may hold before spilling "
                      "to disk (e.g. 20%, 2GiB); past it even then, the query fails (422)."),
    click.option("--query-timeout", default="5m", show_default=True,
                 envvar=_env("QUERY_TIMEOUT"),
                 help="Stop a query running longer than this (408); requests may ask for "
                      "less with `timeout`. 0: no limit."),
    click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 envvar=_env("TLS_CERT"), help="Serve HTTPS with this PEM certificate (chain)."),
    click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 envvar=_env("TLS_KEY"), help="The PEM private key of --tls-cert."),
]


def security_options(command):
    """Adds the flags; the command gets them as `security`, a dict of Settings fields."""

    @functools.wraps(command)
    def callback(*args, admin_token_file: Path | None, admin_token_recovery_http_bind: str | None,
                 disable_authz: str, max_query_result_bytes: int, exec_mem_pool_bytes: str,
                 query_timeout: str, tls_cert: Path | None, tls_key: Path | None, **kwargs):
        security = security_settings(admin_token_file, disable_authz, max_query_result_bytes,
                                     tls_cert, tls_key, query_timeout, exec_mem_pool_bytes,
                                     admin_token_recovery_http_bind)
        return command(*args, security=security, **kwargs)

    for option in reversed(_OPTIONS):
        callback = option(callback)
    return callback


def security_settings(admin_token_file: Path | None, disable_authz: str,
                      max_query_result_bytes: int, tls_cert: Path | None,
                      tls_key: Path | None, query_timeout: str = "5m",
                      exec_mem_pool_bytes: str = "20%",
                      admin_token_recovery_bind: str | None = None) -> dict:
    opened = frozenset(name.strip().lower() for name in disable_authz.split(",") if name.strip())
    unknown = sorted(opened - set(OPENABLE))
    if unknown:
        raise click.BadParameter(f"cannot open {', '.join(unknown)}: choose from "
                                 f"{', '.join(OPENABLE)}", param_hint="--disable-authz")
    if max_query_result_bytes <= 0:
        raise click.BadParameter("must be positive", param_hint="--max-query-result-bytes")
    try:
        timeout_ns = 0 if query_timeout.strip() == "0" else parse_duration_ns(query_timeout)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--query-timeout") from None
    try:
        pool = parse_memory_threshold(exec_mem_pool_bytes)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--exec-mem-pool-bytes") from None
    if pool <= 0:
        raise click.BadParameter("must be positive", param_hint="--exec-mem-pool-bytes")
    if admin_token_file is not None:
        admin_token_file = admin_token_file.expanduser()
        try:
            TokenFile.read(admin_token_file)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--admin-token-file") from None
        if admin_token_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            click.echo(f"warning: {admin_token_file} can be read by other users; "
                       f"chmod 600 {admin_token_file}", err=True)
    if (tls_cert is None) != (tls_key is None):
        raise click.BadParameter("give both --tls-cert and --tls-key, or neither",
                                 param_hint="--tls-cert/--tls-key")
    for path, hint in ((tls_cert, "--tls-cert"), (tls_key, "--tls-key")):
        if path is not None and not path.expanduser().is_file():
            raise click.BadParameter(f"{path} is not a file", param_hint=hint)
    if admin_token_recovery_bind is not None:
        host, _, port = admin_token_recovery_bind.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise click.BadParameter("use HOST:PORT, e.g. 127.0.0.1:8182",
                                     param_hint="--admin-token-recovery-http-bind")
        if host.strip("[]") not in ("127.0.0.1", "localhost", "::1"):
            click.echo(f"warning: the admin token recovery endpoint on {admin_token_recovery_bind} "
                       "hands the operator token to anyone who reaches it: prefer a loopback "
                       "address", err=True)
    return {
        "admin_token_file": admin_token_file,
        "admin_token_recovery_bind": admin_token_recovery_bind,
        "disable_authz": opened,
        "max_query_result_bytes": max_query_result_bytes,
        "query_timeout_s": timeout_ns / 1e9 if timeout_ns else None,
        "exec_mem_pool_bytes": pool,
        "tls_cert": tls_cert.expanduser() if tls_cert else None,
        "tls_key": tls_key.expanduser() if tls_key else None,
    }
