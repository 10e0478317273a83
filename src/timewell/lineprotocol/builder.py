"""`LineBuilder`: the line protocol builder plugins get as a builtin (contract §7.3).

Plugins written for InfluxDB 3 must run unchanged, so this reproduces the behaviour of the
builder upstream embeds in its Python runtime (`influxdb3_py_api/src/line_builder/line_builder.py`)
exactly, quirks included:

- keys are validated (non-empty, no space, comma or equals sign) but never type-checked;
- values are formatted without type checks: `int64_field("x", "5")` gives `x=5i`, which plugins
  rely on when they pass trigger arguments straight through, and `int64_field("x", "a")` gives
  `x=ai`, which the server then rejects at write time;
- tag values and measurements are escaped at `build()`, so `.tags` holds the raw values;
- tag keys are not escaped (they cannot hold the characters that would need it), field keys are.

Do not "fix" these without checking upstream first: a plugin that works there must work here.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

__all__ = [
    "InfluxDBError",
    "InvalidKeyError",
    "InvalidLineError",
    "InvalidMeasurementError",
    "LineBuilder",
]


class InfluxDBError(Exception):
    """Base of the errors `LineBuilder` raises (upstream subclasses `Exception` directly)."""


class InvalidMeasurementError(InfluxDBError):
    """The measurement name contains a space."""


class InvalidKeyError(InfluxDBError):
    """A tag or field key is empty or contains a space, a comma or an equals sign."""


class InvalidLineError(InfluxDBError):
    """The line cannot be built: it has no field."""


def _escape_measurement(name: str) -> str:
    # Upstream leaves backslashes alone here; a space can only come from assigning
    # `.measurement` after construction, which upstream allows too.
    return name.replace(",", "\\,").replace(" ", "\\ ")


def _escape_key_or_tag_value(text: str) -> str:
    # The backslash goes first so the escapes added next are not themselves doubled.
    return (
        text.replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace("=", "\\=")
        .replace(" ", "\\ ")
    )


def _check_key(key: str, kind: str) -> None:
    if not key:
        raise InvalidKeyError(f"{kind} key cannot be empty")
    if " " in key:
        raise InvalidKeyError(f"{kind} key '{key}' cannot contain spaces")
    if "," in key:
        raise InvalidKeyError(f"{kind} key '{key}' cannot contain commas")
    if "=" in key:
        raise InvalidKeyError(f"{kind} key '{key}' cannot contain equals signs")


class LineBuilder:
    """Build one line of line protocol: `LineBuilder("cpu").tag("host", "a").float64_field(...)`.

    `.measurement`, `.tags` and `.fields` are public, as upstream: `tags` maps key to the raw
    (unescaped) value, `fields` maps key to the already formatted value (`12i`, `"text"`), both
    in insertion order; setting an existing key again replaces its value in place.
    """

    def __init__(self, measurement: str) -> None:
        if " " in measurement:
            raise InvalidMeasurementError("Measurement name cannot contain spaces")
        self.measurement = measurement
        self.tags: OrderedDict[str, str] = OrderedDict()
        self.fields: OrderedDict[str, str] = OrderedDict()
        # Same private name as upstream, for plugins that peek at it.
        self._timestamp_ns: int | None = None

    def tag(self, key: str, value: Any) -> LineBuilder:
        """Add a tag; `value` is stored as `str(value)`."""
        _check_key(key, "tag")
        self.tags[key] = str(value)
        return self

    def int64_field(self, key: str, value: int) -> LineBuilder:
        """Add a signed integer field, written `<value>i`."""
        _check_key(key, "field")
        self.fields[key] = f"{value}i"
        return self

    def uint64_field(self, key: str, value: int) -> LineBuilder:
        """Add an unsigned integer field, written `<value>u`; a negative value is a ValueError."""
        _check_key(key, "field")
        if value < 0:
            raise ValueError(f"uint64 field '{key}' cannot be negative")
        self.fields[key] = f"{value}u"
        return self

    def float64_field(self, key: str, value: float) -> LineBuilder:
        """Add a float field: an integral value is written `<int>.0` (so `1e20` is spelled out
        in full), any other value as `str(value)`."""
        _check_key(key, "field")
        # `str(1.0)` is "1.0" but `str(1e20)` is "1e+20"; upstream goes through int() for every
        # integral value, which also turns -0.0 into "0.0".
        self.fields[key] = f"{int(value)}.0" if value % 1 == 0 else str(value)
        return self

    def string_field(self, key: str, value: str) -> LineBuilder:
        """Add a string field, quoted, with `\\` and `"` escaped."""
        _check_key(key, "field")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        self.fields[key] = f'"{escaped}"'
        return self

    def bool_field(self, key: str, value: Any) -> LineBuilder:
        """Add a boolean field, written `t` or `f` by the truth of `value`."""
        _check_key(key, "field")
        self.fields[key] = "t" if value else "f"
        return self

    def time_ns(self, timestamp_ns: int) -> LineBuilder:
        """Set the timestamp in nanoseconds; without one the server uses its ingest time."""
        self._timestamp_ns = timestamp_ns
        return self

    def build(self) -> str:
        """The line: `measurement[,tags] fields[ time]`, with no trailing newline."""
        line = _escape_measurement(self.measurement)
        if self.tags:
            line += "," + ",".join(
                f"{key}={_escape_key_or_tag_value(value)}" for key, value in self.tags.items()
            )
        if not self.fields:
            raise InvalidLineError(f"At least one field is required: {line}")
        line += " " + ",".join(
            f"{_escape_key_or_tag_value(key)}={value}" for key, value in self.fields.items()
        )
        if self._timestamp_ns is not None:
            line += f" {self._timestamp_ns}"
        return line
