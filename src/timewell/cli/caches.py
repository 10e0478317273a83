"""`timewell create|delete last_cache|distinct_cache`: the caches, with influxdb3's flags."""

from __future__ import annotations

import click
import orjson

from timewell.cli import admin
from timewell.cli.client import Server, database_option, host_option, token_option
from timewell.duration import parse_duration_ns
from timewell.errors import InvalidRequest

table_option = click.option("-t", "--table", required=True, help="Table the cache is for.")


@admin.create.command("last_cache")
@database_option
@table_option
@host_option
@token_option
@click.option("--key-columns", default=None,
              help="Comma-separated key columns (default: the table's tags, in series-key "
                   "order).")
@click.option("--value-columns", default=None,
              help="Comma-separated value columns (default: every other column, including "
                   "ones added later).")
@click.option("--count", type=click.IntRange(1), default=None,
              help="Rows kept per key (default 1).")
@click.option("--ttl", default=None, help="Drop rows older than this, e.g. 30m, 4h (default 4h).")
@click.argument("name", required=False)
def create_last_cache(database: str, table: str, host: str, token: str | None,
                      key_columns: str | None, value_columns: str | None, count: int | None,
                      ttl: str | None, name: str | None) -> None:
    """Create a last value cache on a table (NAME defaults to <table>_<keys>_last_cache)."""
    body: dict = {"db": database, "table": table}
    if name:
        body["name"] = name
    if key_columns is not None:
        body["key_columns"] = _columns(key_columns)
    if value_columns is not None:
        body["value_columns"] = _columns(value_columns)
    if count is not None:
        body["count"] = count
    if ttl is not None:
        body["ttl"] = _seconds(ttl, "--ttl")
    _create(host, token, "last_cache", "Last cache", body)


@admin.create.command("distinct_cache")
@database_option
@table_option
@host_option
@token_option
@click.option("--columns", required=True,
              help="Comma-separated tag or string columns, in hierarchy order.")
@click.option("--max-cardinality", type=click.IntRange(1), default=None,
              help="Most value combinations kept (default 100000); the least recently seen go "
                   "first.")
@click.option("--max-age", default=None,
              help="Drop combinations not seen for this long, e.g. 1d (default 1d).")
@click.argument("name", required=False)
def create_distinct_cache(database: str, table: str, host: str, token: str | None, columns: str,
                          max_cardinality: int | None, max_age: str | None,
                          name: str | None) -> None:
    """Create a distinct value cache on a table (NAME defaults to
    <table>_<columns>_distinct_cache)."""
    body: dict = {"db": database, "table": table, "columns": _columns(columns)}
    if name:
        body["name"] = name
    if max_cardinality is not None:
        body["max_cardinality"] = max_cardinality
    if max_age is not None:
        body["max_age"] = _seconds(max_age, "--max-age")
    _create(host, token, "distinct_cache", "Distinct cache", body)


@admin.delete.command("last_cache")
@database_option
@table_option
@host_option
@token_option
@click.argument("name")
def delete_last_cache(database: str, table: str, host: str, token: str | None,
                      name: str) -> None:
    """Delete last cache NAME of a table."""
    _delete(host, token, "last_cache", database, table, name)
    click.echo("last cache deleted successfully")  # upstream's text


@admin.delete.command("distinct_cache")
@database_option
@table_option
@host_option
@token_option
@click.argument("name")
def delete_distinct_cache(database: str, table: str, host: str, token: str | None,
                          name: str) -> None:
    """Delete distinct cache NAME of a table."""
    _delete(host, token, "distinct_cache", database, table, name)
    click.echo("distinct cache deleted successfully")  # upstream's text


def _create(host: str, token: str | None, kind: str, label: str, body: dict) -> None:
    response = Server(host, token).request("POST", f"/api/v3/configure/{kind}", json=body)
    description = response.json()
    if response.status_code == 201:  # upstream's words first
        click.echo(f'new cache created: {label} "{description["name"]}"')
    else:
        click.echo(f'{label} "{description["name"]}" already exists with these settings:')
    click.echo(orjson.dumps(description, option=orjson.OPT_INDENT_2).decode())


def _delete(host: str, token: str | None, kind: str, database: str, table: str,
            name: str) -> None:
    Server(host, token).request("DELETE", f"/api/v3/configure/{kind}",
                                params={"db": database, "table": table, "name": name})


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _seconds(text: str, option: str) -> int:
    try:
        ns = parse_duration_ns(text)
    except InvalidRequest as e:
        raise click.BadParameter(str(e), param_hint=option) from None
    if ns < 1_000_000_000 or ns % 1_000_000_000:
        raise click.BadParameter(f"'{text}' is not a whole number of seconds (at least 1s)",
                                 param_hint=option)
    return ns // 1_000_000_000
