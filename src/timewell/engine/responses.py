"""A request plugin's return value as an HTTP response, by Flask's conventions (as upstream):
dict/list → JSON, str → text/html, `(body[, status_or_headers[, headers]])`, an iterable of
str/bytes concatenated, a Flask-like Response object used as it is."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson


class UnsupportedResponse(TypeError):
    pass


@dataclass
class PluginResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def to_response(result) -> PluginResponse:
    if _is_flask_response(result):
        return PluginResponse(int(result.status_code), {str(k): str(v) for k, v in
                                                        dict(result.headers).items()},
                              _bytes(result.get_data()))
    if isinstance(result, tuple) and 1 <= len(result) <= 3:
        response = _body(result[0], fallback_type="text/plain")
        if len(result) >= 2:
            second = result[1]
            if isinstance(second, int) and not isinstance(second, bool):
                response.status = second
            elif isinstance(second, dict):
                response.headers.update(_header_dict(second))
            else:
                raise UnsupportedResponse("the second item of a returned tuple must be a status "
                                          f"code or a dict of headers, not {type(second).__name__}")
        if len(result) == 3:
            if not isinstance(result[2], dict):
                raise UnsupportedResponse("the third item of a returned tuple must be a dict of "
                                          "headers")
            response.headers.update(_header_dict(result[2]))
        if not 100 <= response.status <= 599:
            raise UnsupportedResponse(f"status code {response.status} is not a valid HTTP status")
        return response
    if isinstance(result, str | dict | list):
        return _body(result, fallback_type="text/html")
    if isinstance(result, bytes | bytearray):
        return PluginResponse(200, {"Content-Type": "application/octet-stream"}, bytes(result))
    if hasattr(result, "__iter__"):
        body = b"".join(_bytes(item) for item in result)
        return PluginResponse(200, {"Content-Type": "text/html"}, body)
    raise UnsupportedResponse(
        f"unsupported return type {type(result).__name__} from process_request: return a dict, "
        "list, str, bytes, an iterable of str/bytes, or a (body, status, headers) tuple")


def _body(value, fallback_type: str) -> PluginResponse:
    if isinstance(value, dict | list):
        return PluginResponse(200, {"Content-Type": "application/json"},
                              orjson.dumps(value, default=str))
    if isinstance(value, str):
        return PluginResponse(200, {"Content-Type": "text/html"}, value.encode())
    if isinstance(value, bytes | bytearray):
        return PluginResponse(200, {"Content-Type": "application/octet-stream"}, bytes(value))
    return PluginResponse(200, {"Content-Type": fallback_type}, str(value).encode())


def _bytes(item) -> bytes:
    if isinstance(item, bytes | bytearray):
        return bytes(item)
    if isinstance(item, str):
        return item.encode()
    raise UnsupportedResponse(f"an iterable response may yield str or bytes, not "
                              f"{type(item).__name__}")


def _header_dict(headers: dict) -> dict[str, str]:
    return {str(k): str(v) for k, v in headers.items()}


def _is_flask_response(result) -> bool:
    marker = getattr(result, "__flask_response__", None)
    try:
        return callable(marker) and bool(marker())
    except Exception:
        return False
