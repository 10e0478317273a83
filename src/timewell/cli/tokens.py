"""`timewell create token --admin`, `show tokens`, `delete token`."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
import orjson

from timewell.auth import OPERATOR_TOKEN_NAME, new_token_text
from timewell.auth.tokens import check_token_name
from timewell.cli import admin
from timewell.cli.client import Server, host_option, print_query, token_option
from timewell.duration import parse_duration_ns
from timewell.errors import InvalidRequest

TOKEN_URL = "/api/v3/configure/token"


@admin.create.command("token")
@host_option
@token_option
@click.option("--admin", "is_admin", is_flag=True,
              help="Create an admin token (the only kind there is).")
@click.option("--name", default=None,
              help="A named admin token; without it, the operator token is made.")
@click.option("--expiry", default=None,
              help="A named token stops working after this long, e.g. 10d, 12h, 52w.")
@click.option("--regenerate", is_flag=True,
              help="Replace the operator token (needs the current one as --token).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask to confirm --regenerate.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--offline", is_flag=True,
              help="Make the token here, without a server, into --output-file: a file for "
                   "`timewell serve --admin-token-file` (automated deployments).")
@click.option("--output-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where --offline writes the token (JSON, readable by you only).")
def create_token(host: str, token: str | None, is_admin: bool, name: str | None,
                 expiry: str | None, regenerate: bool, yes: bool, fmt: str, offline: bool,
                 output_file: Path | None) -> None:
    """Create an admin token and print it (the only time it is shown).

    The first one (the operator token) needs no token: on a new server run
    `timewell create token --admin`, then `export TIMEWELL_AUTH_TOKEN=<the token>`."""
    if not is_admin:
        raise click.UsageError("timewell has admin tokens only: use --admin")
    if regenerate and name:
        raise click.UsageError("--regenerate cannot be used with --name, --regenerate only "
                               "applies for operator token")
    if regenerate and expiry:
        raise click.UsageError("--regenerate replaces the operator token, which does not "
                               "expire: it takes no --expiry")
    if offline:
        _create_offline(name, expiry, regenerate, output_file)
        return
    if output_file is not None:
        raise click.UsageError("--output-file is for --offline tokens")
    if expiry and not name:
        raise click.UsageError("--expiry applies to named tokens: add --name")
    server = Server(host, token)
    if regenerate:
        if not yes:
            answer = click.prompt("Are you sure you want to regenerate the operator token? "
                                  "The current one stops working. Enter 'yes' to confirm",
                                  default="", show_default=False)
            if answer.strip().lower() != "yes":
                raise click.ClickException("cancelled; the token was not regenerated")
        response = server.request("POST", f"{TOKEN_URL}/admin/regenerate")
    elif name:
        body: dict = {"token_name": name}
        if expiry:
            try:
                body["expiry_secs"] = max(1, parse_duration_ns(expiry) // 1_000_000_000)
            except InvalidRequest as e:
                raise click.BadParameter(str(e), param_hint="--expiry") from None
        response = server.request("POST", f"{TOKEN_URL}/named_admin", json=body)
    else:
        response = server.request("POST", f"{TOKEN_URL}/admin")
    created = response.json()
    if fmt == "json":
        click.echo(orjson.dumps(created, option=orjson.OPT_INDENT_2).decode())
        return
    text = created["token"]
    click.echo("New token created successfully!\n")
    click.echo(f"Token: {text}")
    click.echo(f"HTTP Requests Header: Authorization: Bearer {text}")
    if created.get("expiry"):
        click.echo(f"Expires: {created['expiry']}")
    click.echo(f"\nUse it from the CLI with:\n  export TIMEWELL_AUTH_TOKEN={text}")
    click.echo("\nIMPORTANT: Store this token securely, as it will not be shown again.")


def _create_offline(name: str | None, expiry: str | None, regenerate: bool,
                    output_file: Path | None) -> None:
    """A token file for `serve --admin-token-file`: upstream's JSON `{"token", "name",
    "expiry_millis"?}`, made without a server."""
    if regenerate:
        raise click.UsageError("--offline makes a new token file; --regenerate needs a server")
    if output_file is None:
        raise click.UsageError("--offline needs --output-file FILE (where the token is saved)")
    document: dict = {"token": new_token_text(), "name": name or OPERATOR_TOKEN_NAME}
    if expiry:
        try:
            expiry_ns = parse_duration_ns(expiry)
        except InvalidRequest as e:
            raise click.BadParameter(str(e), param_hint="--expiry") from None
        document["expiry_millis"] = (time.time_ns() + expiry_ns) // 1_000_000
    output_file = output_file.expanduser()
    try:
        check_token_name(document["name"], allow_operator=True)
        # created readable by its owner only: the file holds a live credential
        descriptor = os.open(output_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except InvalidRequest as e:
        raise click.BadParameter(str(e), param_hint="--name") from None
    except FileExistsError:
        raise click.ClickException(f"{output_file} exists already: choose another "
                                   "--output-file (a token file is never overwritten)") from None
    except OSError as e:
        raise click.ClickException(f"cannot create {output_file}: {e.strerror}") from None
    with os.fdopen(descriptor, "wb") as out:
        out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    click.echo(f"Token saved to: {output_file}")
    click.echo(f"\nStart the server with it:\n  timewell serve --admin-token-file {output_file}")
    click.echo("\nIMPORTANT: the file holds the token: keep it secret, and delete it once the "
               "server has read it.")


@admin.show.command("tokens")
@host_option
@token_option
@click.option("--format", "fmt", type=click.Choice(["pretty", "json", "jsonl", "csv"]),
              default="pretty", show_default=True)
def show_tokens(host: str, token: str | None, fmt: str) -> None:
    """List the tokens: names, creation and expiry times (never the tokens or their hashes)."""
    query = ("SELECT token_id, name, created_at, expiry, permissions FROM system.tokens "
             "ORDER BY token_id")
    print_query(host, token, "_internal", query, fmt)


@admin.delete.command("token")
@host_option
@token_option
@click.option("--token-name", required=True, help="The token to delete.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_token(host: str, token: str | None, token_name: str, yes: bool) -> None:
    """Delete a named token; it stops working at once."""
    if not yes:
        answer = click.prompt(f"Are you sure you want to delete token '{token_name}'? "
                              "Enter 'yes' to confirm", default="", show_default=False)
        if answer.strip().lower() != "yes":
            raise click.ClickException("cancelled; nothing was deleted")
    Server(host, token).request("DELETE", TOKEN_URL, params={"token_name": token_name})
    click.echo(f"Token \"{token_name}\" deleted successfully")
