"""What every client command shares: where the server is and how to trust its TLS
certificate, the token, and readable errors."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import click
import httpx
import orjson

DEFAULT_HOST = "http://127.0.0.1:8181"


def env(name: str) -> list[str]:
    return [f"TIMEWELL_{name}", f"INFLUXDB3_{name}"]


_TLS_KEY = "timewell.tls"  # click context meta: how Server checks the certificate


def _remember_tls(ctx: click.Context, param: click.Parameter, value):
    if value not in (None, False):
        ctx.meta.setdefault(_TLS_KEY, {})[param.name] = value
    return value


def host_option(command):
    """`-H/--host` and how to trust an HTTPS server's certificate (`tls_options`)."""
    return click.option("-H", "--host", "host", default=DEFAULT_HOST, show_default=True,
                        envvar=env("HOST_URL"), help="URL of the timewell server.")(
        tls_options(command))


def tls_options(command):
    """How to trust an HTTPS server's certificate: `--tls-ca FILE` (a private CA, e.g. for
    self-signed certificates) or `--tls-no-verify` (no check at all). `Server` reads the
    choice from the command's context (shared with its parent group's)."""
    command = click.option(
        "--tls-no-verify", is_flag=True, expose_value=False, callback=_remember_tls,
        envvar=env("TLS_NO_VERIFY"),
        help="Do not check the server's TLS certificate (testing only: anyone on the network "
             "path can then read and change the traffic).")(command)
    return click.option(
        "--tls-ca", type=click.Path(dir_okay=False, path_type=Path), default=None,
        expose_value=False, callback=_remember_tls, envvar=env("TLS_CA"),
        help="Trust HTTPS servers whose certificate this PEM CA file signed (e.g. a "
             "self-signed one).")(command)


token_option = click.option("--token", default=None, envvar=env("AUTH_TOKEN"),
                            help="Authentication token.")
database_option = click.option("-d", "--database", required=True,
                               envvar=env("DATABASE_NAME"), help="Database name.")


class Server:
    """A timewell server reached over HTTP; failures exit with the server's message."""

    def __init__(self, host: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=host.rstrip("/"), headers=headers, timeout=300,
                                    verify=tls_verification())
        self._host = host

    def request(self, method: str, path: str, *, refused_ok: bool = False,
                **kwargs) -> httpx.Response:
        """The server's answer; a refusal (4xx, 5xx) exits with its message unless
        `refused_ok`."""
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            hint = ""
            if "CERTIFICATE_VERIFY_FAILED" in str(e):
                hint = ("\n(trust a private CA with --tls-ca FILE; --tls-no-verify skips the "
                        "check, for testing only)")
            raise click.ClickException(f"cannot reach the server at {self._host}: {e}{hint}"
                                       ) from None
        if response.status_code >= 400 and not refused_ok:
            raise click.ClickException(describe_error(response))
        return response


def tls_verification() -> ssl.SSLContext | bool:
    """How this command checks TLS certificates: not at all (`--tls-no-verify`), or against
    the usual trusted CAs (`SSL_CERT_FILE` included) plus the `--tls-ca` one."""
    ctx = click.get_current_context(silent=True)
    chosen = ctx.meta.get(_TLS_KEY, {}) if ctx is not None else {}
    if chosen.get("tls_no_verify"):
        return False
    ca = chosen.get("tls_ca")
    if ca is None:
        return True
    context = httpx.create_ssl_context()
    try:
        context.load_verify_locations(cafile=str(ca))
    except (OSError, ssl.SSLError) as e:
        raise click.BadParameter(f"cannot read a PEM CA certificate from {ca}: {e}",
                                 param_hint="--tls-ca") from None
    return context


def print_query(host: str, token: str | None, database: str, sql: str, fmt: str) -> None:
    """Run `sql` (usually over a system table) and print the answer in `fmt`."""
    response = Server(host, token).request("POST", "/api/v3/query_sql",
                                           json={"db": database, "q": sql, "format": fmt})
    write_body(response.text)


def write_body(text: str) -> None:
    """Print a response body, ending it with a newline (the server's pretty tables, like
    upstream's, have none)."""
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")


def describe_error(response: httpx.Response) -> str:
    """The server's error as a person reads it, line errors one per line."""
    text = f"server answered {response.status_code}"
    if response.status_code == 401:
        return (text + ": a valid token is needed; pass --token or set TIMEWELL_AUTH_TOKEN "
                "(a new server's first token: timewell create token --admin)")
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = response.text.strip()
    if response.status_code == 403 and not (isinstance(body, dict) and body.get("error")):
        # a refusal the server does not explain (e.g. a token's permissions) is the token's
        return text + ": this token may not do that"
    if isinstance(body, dict):
        message = body.get("error") or body.get("message") or ""
        text += f": {message}"
        data = body.get("data")
        for item in data if isinstance(data, list) else [data] if data else []:
            text += (f"\n  line {item.get('line_number')}: {item.get('error_message')}"
                     f" ({item.get('original_line')!r})")
    elif body:
        text += f": {body}"
    return text
