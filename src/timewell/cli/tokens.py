"""`timewell create token --admin`, `show tokens`, `delete token`."""

from __future__ import annotations

import click
import orjson

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
def create_token(host: str, token: str | None, is_admin: bool, name: str | None,
                 expiry: str | None, regenerate: bool, yes: bool, fmt: str) -> None:
    """Create an admin token and print it (the only time it is shown).

    The first one (the operator token) needs no token: on a new server run
    `timewell create token --admin`, then `export TIMEWELL_AUTH_TOKEN=<the token>`."""
    if not is_admin:
        raise click.UsageError("timewell has admin tokens only: use --admin")
    if regenerate and (name or expiry):
        raise click.UsageError("--regenerate replaces the operator token; it takes no --name "
                               "or --expiry")
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
