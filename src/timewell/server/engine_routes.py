"""Processing-engine endpoints: trigger management, request triggers, dry runs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from timewell.catalog import TriggerDefinition
from timewell.duration import parse_duration_ns
from timewell.errors import InvalidRequest
from timewell.node import Node
from timewell.server.body import (
    bool_param,
    json_object,
    read_body,
    read_json_object,
    str_field,
)


def routes(node: Node) -> list[Route]:
    limit = node.settings.max_http_request_size
    engine = node.engine

    async def create_trigger(request: Request) -> Response:
        data = await read_json_object(request, limit)
        settings = data.get("trigger_settings") or {}
        if not isinstance(settings, dict):
            raise InvalidRequest("'trigger_settings' must be an object")
        definition = TriggerDefinition(
            name=str_field(data, "trigger_name"),
            plugin_filename=str_field(data, "plugin_filename"),
            trigger_specification=str_field(data, "trigger_specification"),
            trigger_arguments=data.get("trigger_arguments"),
            run_async=_bool(settings.get("run_async", False), "run_async"),
            error_behavior=str(settings.get("error_behavior") or "log").lower(),
            disabled=_bool(data.get("disabled", False), "disabled"),
        )
        # timewell's own setting: a public request trigger answers without a token
        if _bool(settings.get("public", data.get("public", False)), "public"):
            definition.extra["public"] = True
        missed_fires = settings.get("missed_fires", data.get("missed_fires"))
        if missed_fires is not None:
            definition.extra["missed_fires"] = str(missed_fires)
        timeout = settings.get("timeout", data.get("timeout"))
        if timeout is not None:
            definition.extra["timeout_s"] = _seconds(timeout, "timeout")
        if not definition.name.strip():
            raise InvalidRequest("'trigger_name' is empty")
        await engine.create_trigger(str_field(data, "db"), definition,
                                    install_deps=_bool(data.get("install_deps", False),
                                                       "install_deps"),
                                    refresh=_bool(data.get("refresh", False), "refresh"))
        return Response(status_code=200)

    async def update_trigger(request: Request) -> Response:
        data = await read_json_object(request, limit)
        result = await engine.update_trigger(
            str_field(data, "db"), str_field(data, "trigger_name"),
            plugin_filename=str_field(data, "plugin_filename", False),
            refresh=_bool(data.get("refresh", True), "refresh"))
        return JSONResponse(result)

    async def trigger_target(request: Request) -> tuple[str, str, dict]:
        """db and trigger_name from the query string, or from a JSON body."""
        params = dict(request.query_params)
        if "db" not in params or "trigger_name" not in params:
            body = await read_body(request, limit)
            if body.strip():
                params.update(json_object(body))
        database = params.get("db")
        name = params.get("trigger_name")
        if not database or not name:
            raise InvalidRequest("name the trigger with db=<database>&trigger_name=<name>")
        return str(database), str(name), params

    async def delete_trigger(request: Request) -> Response:
        database, name, params = await trigger_target(request)
        force = params.get("force")
        force = force if isinstance(force, bool) else bool_param(force, "force", False)
        await engine.delete_trigger(database, name, force)
        return Response(status_code=200)

    async def enable_trigger(request: Request) -> Response:
        database, name, params = await trigger_target(request)
        refresh = params.get("refresh")
        refresh = refresh if isinstance(refresh, bool) else bool_param(refresh, "refresh", False)
        await engine.enable_trigger(database, name, refresh=refresh)
        return Response(status_code=200)

    async def disable_trigger(request: Request) -> Response:
        database, name, _ = await trigger_target(request)
        await engine.disable_trigger(database, name)
        return Response(status_code=200)

    async def run_trigger(request: Request) -> Response:
        """timewell: run a schedule trigger once, now, for real."""
        database, name, _ = await trigger_target(request)
        return JSONResponse(await engine.run_trigger_now(database, name))

    async def engine_request(request: Request) -> Response:
        body = await read_body(request, limit)
        response = await engine.handle_request(
            request.path_params["path"], dict(request.query_params), dict(request.headers), body)
        return Response(response.body, response.status, headers=response.headers)

    async def test_wal(request: Request) -> Response:
        data = await read_json_object(request, limit)
        result = await engine.dry_runs.wal(
            str_field(data, "filename"), str_field(data, "database"),
            str_field(data, "input_lp"), _arguments(data), str_field(data, "cache_name", False))
        return JSONResponse(result)

    async def test_schedule(request: Request) -> Response:
        data = await read_json_object(request, limit)
        result = await engine.dry_runs.schedule(
            str_field(data, "filename"), str_field(data, "database"),
            str_field(data, "schedule", False), _arguments(data),
            str_field(data, "cache_name", False))
        return JSONResponse(result)

    base = "/api/v3/configure/processing_engine_trigger"
    return [
        Route(base, create_trigger, methods=["POST"]),
        Route(base, delete_trigger, methods=["DELETE"]),
        Route(base, update_trigger, methods=["PUT"]),
        Route(f"{base}/enable", enable_trigger, methods=["POST"]),
        Route(f"{base}/disable", disable_trigger, methods=["POST"]),
        Route(f"{base}/run", run_trigger, methods=["POST"]),
        Route("/api/v3/engine/{path:path}", engine_request, methods=["GET", "POST"]),
        Route("/api/v3/plugin_test/wal", test_wal, methods=["POST"]),
        Route("/api/v3/plugin_test/schedule", test_schedule, methods=["POST"]),
    ]


def _bool(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise InvalidRequest(f"'{name}' must be true or false")


def _arguments(data: dict) -> dict | None:
    arguments = data.get("input_arguments")
    if arguments is None:
        return None
    if not isinstance(arguments, dict):
        raise InvalidRequest("'input_arguments' must be an object of string keys and values")
    return {str(k): str(v) for k, v in arguments.items()}



def _seconds(value, name: str) -> float:
    """A duration as a number of seconds or a string such as `1s`, `500ms`, `2m`."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            seconds = parse_duration_ns(value) / 1e9
        except ValueError as e:
            raise InvalidRequest(f"'{name}': {e}") from None
        if seconds > 0:
            return seconds
    raise InvalidRequest(f"'{name}' must be a positive duration such as \"10s\" or a number "
                         "of seconds")
