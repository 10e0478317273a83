"""A request body as lines: UTF-8 decoding, line endings, and which lines count."""

from __future__ import annotations

from .types import LineProtocolError

# Only spaces and tabs are leading whitespace; every other character starts the line's content.
LEADING_WHITESPACE = " \t"


def check_utf8(body: bytes) -> str:
    """Decode the body, or raise `LineProtocolError` naming where it stops being UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise LineProtocolError(
            f"request body is not valid UTF-8: byte 0x{body[exc.start]:02x} at offset "
            f"{exc.start} (line {line}) cannot be decoded"
        ) from None


def normalize_line_endings(data: bytes) -> bytes:
    """Drop the one `\\r` that ends a line (`\\r\\n`, or a `\\r` closing the body), as
    `split_lines` does, so the columnar path can split on `\\n` alone."""
    if b"\r" not in data:
        return data
    data = data.replace(b"\r\n", b"\n")
    return data[:-1] if data.endswith(b"\r") else data


def split_lines(text: str) -> list[str]:
    """Every physical line, without its `\\n` or `\\r\\n` ending."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def is_skipped(line: str) -> bool:
    """Blank lines and comments (first non-blank character `#`) are skipped and not counted."""
    content = line.lstrip(LEADING_WHITESPACE)
    return not content or content[0] == "#"
