"""Reading request bodies and parameters safely: size limits before and after gzip."""

from __future__ import annotations

import zlib

import orjson
from starlette.requests import Request

from timewell.errors import InvalidRequest, PayloadTooLarge


async def read_body(request: Request, limit: int) -> bytes:
    """The body, gunzipped when `Content-Encoding: gzip`; PayloadTooLarge past `limit` bytes
    (checked on the decompressed size too, so a small gzip bomb is refused cheaply)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(_too_large(limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(_too_large(limit))
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise InvalidRequest(f"unsupported Content-Encoding '{encoding}': send gzip or no encoding")
    return _gunzip(body, limit)


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
        if len(data) > limit or inflater.unconsumed_tail:
            raise PayloadTooLarge(_too_large(limit) + " after decompression")
        if not inflater.eof:
            raise InvalidRequest("invalid gzip body: the stream is truncated")
    except zlib.error as e:
        raise InvalidRequest(f"invalid gzip body: {e}") from None
    return data


def _too_large(limit: int) -> str:
    return (f"request body is larger than the limit of {limit} bytes; send smaller batches "
            "or raise --max-http-request-size")


async def read_json_object(request: Request, limit: int) -> dict:
    body = await read_body(request, limit)
    if not body.strip():
        raise InvalidRequest("the request body is empty: send a JSON object")
    return json_object(body)


def json_object(body: bytes) -> dict:
    """The body as a JSON object; InvalidRequest saying what is wrong otherwise."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise InvalidRequest(f"the request body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return data


def bool_param(value: str | None, name: str, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise InvalidRequest(f"invalid value '{value}' for '{name}': use true or false")


def str_field(data: dict, name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"'{name}' is missing from the request")
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string")
    return value


def required_param(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise InvalidRequest(f"query parameter '{name}' is missing")
    return value
