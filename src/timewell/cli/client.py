"""What every client command shares: where the server is, the token, and readable errors."""

from __future__ import annotations

import sys

import click
import httpx
import orjson

DEFAULT_HOST = "http://127.0.0.1:8181"


def env(name: str) -> list[str]:
    return [f"TIMEWELL_{name}", f"INFLUXDB3_{name}"]


host_option = click.option("-H", "--host", "host", default=DEFAULT_HOST, show_default=True,
                           envvar=env("HOST_URL"), help="URL of the timewell server.")
token_option = click.option("--token", default=None, envvar=env("AUTH_TOKEN"),
                            help="Authentication token.")
database_option = click.option("-d", "--database", required=True,
                               envvar=env("DATABASE_NAME"), help="Database name.")


class Server:
    """A timewell server reached over HTTP; failures exit with the server's message."""

    def __init__(self, host: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=host.rstrip("/"), headers=headers, timeout=300)
        self._host = host

    def request(self, method: str, path: str, *, refused_ok: bool = False,
                **kwargs) -> httpx.Response:
        """The server's answer; a refusal (4xx, 5xx) exits with its message unless
        `refused_ok`."""
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise click.ClickException(f"cannot reach the server at {self._host}: {e}") from None
        if response.status_code >= 400 and not refused_ok:
            raise click.ClickException(describe_error(response))
        return response


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
