"""`timewell write` and `timewell query`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from timewell.cli.client import (
    Server,
    database_option,
    env,
    host_option,
    token_option,
    write_body,
)


@click.command()
@database_option
@host_option
@token_option
@click.option("-f", "--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read line protocol from this file.")
@click.option("--precision", default=None, help="auto, s, ms, us or ns (server default: auto).")
@click.option("--accept-partial/--no-accept-partial", default=True, show_default=True,
              help="Write the good lines when some are bad.")
@click.option("--no-sync", is_flag=True, help="Answer before the write is durable.")
@click.argument("line_protocol", required=False)
def write(database: str, host: str, token: str | None, file: Path | None, precision: str | None,
          accept_partial: bool, no_sync: bool, line_protocol: str | None) -> None:
    """Write LINE_PROTOCOL (or -f FILE, or standard input) to a database."""
    if line_protocol is not None and file is not None:
        raise click.UsageError("give line protocol as an argument or with --file, not both")
    if line_protocol is not None:
        body = line_protocol.encode()
    elif file is not None:
        body = file.read_bytes()
    else:
        body = sys.stdin.buffer.read()
    params = {"db": database, "accept_partial": str(accept_partial).lower(),
              "no_sync": str(no_sync).lower()}
    if precision:
        params["precision"] = precision
    Server(host, token).request("POST", "/api/v3/write_lp", params=params, content=body)
    click.echo("success", err=True)


@click.command()
@click.option("-d", "--database", envvar=env("DATABASE_NAME"), help="Database name.")
@host_option
@token_option
@click.option("--format", "fmt", type=click.Choice(["pretty", "json", "jsonl", "csv", "parquet",
                                                   "arrow"]),
              default="pretty", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result to this file.")
@click.option("-l", "--language", type=click.Choice(["sql", "influxql"]), default="sql",
              show_default=True)
@click.argument("query", required=False)
@click.option("-f", "--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the query from this file.")
@click.option("--kill", "kill", type=int, default=None, metavar="ID",
              help="Stop the running query with this id (see system.queries) instead.")
def query(database: str | None, host: str, token: str | None, fmt: str, output: Path | None,
          language: str, query: str | None, file: Path | None, kill: int | None) -> None:
    """Run QUERY against a database and print the result (or stop a running query)."""
    if kill is not None:
        Server(host, token).request("DELETE", "/api/v3/query", params={"id": kill})
        click.echo(f"query {kill} stopped", err=True)
        return
    if not database:
        raise click.UsageError("Missing option '-d' / '--database'.")
    if query is None:
        query = file.read_text() if file is not None else sys.stdin.read()
    if fmt in ("parquet", "arrow") and output is None:
        raise click.UsageError(f"--format {fmt} needs --output FILE")
    path = "/api/v3/query_sql" if language == "sql" else "/api/v3/query_influxql"
    response = Server(host, token).request(
        "POST", path, json={"db": database, "q": query, "format": fmt})
    if output is not None:
        output.write_bytes(response.content)
    else:
        write_body(response.text)
