"""Check parsed lines against the catalog and turn the accepted ones into Arrow tables.

Works a segment (lines of one shape) at a time, never a line at a time, yet gives the answer a
line-by-line check would: segments are taken in order of their first line, a column's type is
fixed by the earliest accepted segment that names it, and a segment that disagrees with the
catalog or an earlier segment is rejected whole (all its lines share the offending column).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc

from timewell.catalog import (
    TAG_ARROW_TYPE,
    TIME_ARROW_TYPE,
    Catalog,
    ColumnType,
    add_columns_op,
    check_column_name,
    check_table_name,
    create_database_op,
    create_table_op,
)
from timewell.errors import InvalidRequest
from timewell.lineprotocol import LineError, ParsedBody, Segment
from timewell.lineprotocol.lines import is_skipped, split_lines
from timewell.storage.walfile import TableWrite


@dataclass(frozen=True)
class WriteLimits:
    max_columns_per_table: int = 500
    max_string_bytes: int = 64 * 1024


@dataclass
class ValidatedWrite:
    database: str
    writes: list[TableWrite] = field(default_factory=list)
    catalog_ops: list[dict] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    limit_hit: bool = False
    line_count: int = 0

    @property
    def rows(self) -> int:
        return sum(w.data.num_rows for w in self.writes)


def validate(catalog: Catalog, database: str, body: bytes, parsed: ParsedBody,
             limits: WriteLimits) -> ValidatedWrite:
    """Call with `catalog.lock` held; the result's `catalog_ops` are not yet committed."""
    result = ValidatedWrite(database, line_count=parsed.line_count)
    result.errors.extend(parsed.errors)
    db = catalog.databases.get(database)
    if db is not None and db.deleted:
        raise InvalidRequest(f"database '{database}' has been deleted; writes to it are refused")
    if db is None:
        result.catalog_ops.append(create_database_op(database))
    lines = _LineTexts(body)

    by_table: dict[str, list[Segment]] = defaultdict(list)
    for segment in parsed.segments:
        by_table[segment.table].append(segment)
    for table_name, segments in by_table.items():
        segments.sort(key=lambda s: s.line_numbers[0].as_py())
        table = db.tables.get(table_name) if db is not None else None
        refusal = _table_refusal(table_name, table)
        if refusal:
            for segment in segments:
                _reject(result, segment, refusal, lines)
            continue
        known = dict(table.columns) if table else {"time": ColumnType.TIME}
        new_columns: list[tuple[str, ColumnType]] = []
        accepted: list[pa.Table] = []
        for segment in segments:
            segment = _drop_long_strings(result, segment, limits, lines)
            if segment is None:
                continue
            wanted = [(k, ColumnType.TAG) for k in segment.tag_keys] + [
                (k, ColumnType.of_field(t)) for k, t in segment.field_types
            ]
            problem = _column_problem(wanted, known)
            added = [(name, kind) for name, kind in wanted if name not in known]
            if problem is None and len(known) + len(added) > limits.max_columns_per_table:
                problem = (f"table '{table_name}' would have {len(known) + len(added)} columns, "
                           f"more than the limit of {limits.max_columns_per_table}")
                result.limit_hit = True
            if problem:
                _reject(result, segment, problem, lines)
                continue
            known.update(added)
            new_columns.extend(added)
            accepted.append(_segment_table(segment))
        if not accepted:
            continue
        if table is None:
            result.catalog_ops.append(create_table_op(database, table_name, new_columns))
        elif new_columns:
            result.catalog_ops.append(add_columns_op(database, table_name, new_columns))
        result.writes.append(TableWrite(database, table_name, _combine(accepted)))
    result.errors.sort(key=lambda e: e.line_number)
    return result


def stamp_table_ids(catalog: Catalog, validated: ValidatedWrite) -> None:
    """Put in each write the id of the table it was validated against; call with
    `catalog.lock` held, after `catalog_ops` are committed (a new table has its id only then).
    The id lets WAL consumers drop the rows if the table is deleted (and its name reused)
    before they are flushed."""
    db = catalog.databases[validated.database]
    validated.writes = [replace(write, table_id=db.tables[write.table].table_id)
                        for write in validated.writes]


def _table_refusal(name: str, table) -> str | None:
    if table is not None and table.deleted:
        return f"table '{name}' has been deleted; writes to it are refused"
    if table is None:
        try:
            check_table_name(name)
        except InvalidRequest as e:
            return str(e)
    return None


def _column_problem(wanted: list[tuple[str, ColumnType]], known: dict) -> str | None:
    for name, kind in wanted:
        existing = known.get(name)
        if existing is None:
            try:
                check_column_name(name)
            except InvalidRequest as e:
                return str(e)
        elif existing is not kind:
            return (f"invalid column type for column '{name}', expected {existing.value}, "
                    f"got {kind.value}")
    return None


def _drop_long_strings(result: ValidatedWrite, segment: Segment, limits: WriteLimits,
                       lines: _LineTexts) -> Segment | None:
    """The segment without lines whose string values are over the limit (those are errors)."""
    too_long = None
    for key, values in [*segment.tags.items(), *segment.fields.items()]:
        if values.type != pa.string():
            continue
        over = pc.greater(pc.binary_length(values), limits.max_string_bytes)
        if pc.any(over).as_py():
            for i in pc.indices_nonzero(over).to_pylist():
                line_number = segment.line_numbers[i].as_py()
                result.errors.append(LineError(
                    line_number, lines.text(line_number),
                    f"value of '{key}' is longer than {limits.max_string_bytes} bytes"))
            too_long = over if too_long is None else pc.or_(too_long, over)
    if too_long is None:
        return segment
    result.limit_hit = True
    keep = pc.invert(too_long)
    if not pc.any(keep).as_py():
        return None
    return Segment(
        segment.table, segment.tag_keys, segment.field_types,
        {k: v.filter(keep) for k, v in segment.tags.items()},
        {k: v.filter(keep) for k, v in segment.fields.items()},
        segment.time.filter(keep), segment.line_numbers.filter(keep),
    )


def _reject(result: ValidatedWrite, segment: Segment, message: str, lines: _LineTexts) -> None:
    for line_number in segment.line_numbers.to_pylist():
        result.errors.append(LineError(line_number, lines.text(line_number), message))


def _segment_table(segment: Segment) -> pa.Table:
    columns = {key: values.dictionary_encode().cast(TAG_ARROW_TYPE)
               for key, values in segment.tags.items()}
    columns.update(segment.fields)
    columns["time"] = segment.time.cast(TIME_ARROW_TYPE)
    columns["__line"] = segment.line_numbers
    return pa.table(columns)


def _combine(parts: list[pa.Table]) -> pa.Table:
    """One table in line order, without the line numbers."""
    combined = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="default")
    if len(parts) > 1:
        combined = combined.take(pc.sort_indices(combined.column("__line")))
    return combined.drop_columns(["__line"])


class _LineTexts:
    """Text of counted lines by number, computed only if an error needs it."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._lines: list[str] | None = None

    def text(self, line_number: int) -> str:
        if self._lines is None:
            self._lines = counted_lines(self._body)
        return self._lines[line_number - 1]



def counted_lines(body: bytes) -> list[str]:
    """The lines that line numbers count (not blank, not comments), as the parser counts them."""
    text = body.decode("utf-8", errors="replace")
    return [line for line in split_lines(text) if not is_skipped(line)]
