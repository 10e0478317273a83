"""Last write wins: one row per (series, time), the fields of later writes merged over earlier.

Two points with the same table, tag set (an absent tag is null) and time are one row. A field
the later write has replaces the earlier value; a field only the earlier write has keeps its
value. Line protocol cannot write a null, so "the later write has the field" is "its value is
not null", and the merged row is, per field, the last non-null value in write order.

`sort_and_deduplicate` turns rows in write order into a *run*: rows sorted by series key then
time, one per key. Sorting is the expensive step (a stable Arrow sort on small integer keys:
tags are ranked through their dictionaries instead of compared as strings); the merge itself
only touches the rows whose key occurs more than once, so data without duplicates pays one
comparison per row and column of the key.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

TIME = "time"


def sort_and_deduplicate(data: pa.Table, series_key: list[str]) -> pa.Table:
    """`data` (rows in write order) sorted by `series_key` then time, one row per key."""
    if data.num_rows == 0:
        return data
    data = data.combine_chunks()
    names = key_columns(data.schema, series_key)
    keys = pa.table({name: _sort_key(data.column(name)) for name in names})
    # Arrow's sort is stable: rows of one key stay in write order.
    order = pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in names])
    data, keys = data.take(order), keys.take(order)
    same_as_previous = _same_as_previous(keys)
    if not pc.any(same_as_previous).as_py():
        return data
    return _merge_duplicates(data, names, same_as_previous)


def key_columns(schema: pa.Schema, series_key: list[str]) -> list[str]:
    """The columns that identify a point: the tags in series-key order (any tag the series key
    does not name yet after them, by name), then time."""
    tags = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    known = [name for name in series_key if name in tags]
    return known + sorted(set(tags) - set(known)) + [TIME]


def _sort_key(column: pa.ChunkedArray) -> pa.Array:
    """An array that sorts like `column`'s values; nulls stay null."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        # Rank the (few) dictionary values once, then sort rows by the rank of their index.
        ranks = pc.rank(array.dictionary, sort_keys="ascending", tiebreaker="dense")
        return pc.take(ranks, array.indices)
    if pa.types.is_timestamp(array.type):
        return array.cast(pa.int64())
    return array


def _same_as_previous(keys: pa.Table) -> pa.Array:
    """For each row: is its key equal to the previous row's (nulls equal to nulls)?"""
    n = keys.num_rows
    same = None
    for column in keys.columns:
        array = column.combine_chunks()
        current, previous = array.slice(1), array.slice(0, n - 1)
        equal = pc.fill_null(pc.equal(current, previous), False)
        if array.null_count:
            both_null = pc.and_(pc.is_null(current), pc.is_null(previous))
            equal = pc.or_(equal, both_null)
        same = equal if same is None else pc.and_(same, equal)
    return pa.concat_arrays([pa.array([False]), same])


def _merge_duplicates(data: pa.Table, key_names: list[str],
                      same_as_previous: pa.Array) -> pa.Table:
    """One row per run of equal keys in sorted `data`: the last row of the run, with each
    field's last non-null value of the run."""
    same_as_next = pa.concat_arrays([same_as_previous.slice(1), pa.array([False])])
    last_of_key = pc.invert(same_as_next)
    in_duplicate = pc.or_(same_as_previous, same_as_next)
    result = data.filter(last_of_key)
    replaced = pc.filter(in_duplicate, last_of_key)  # result rows whose key was repeated
    # A field the newest copy of every repeated point has needs no merge (a re-sent write:
    # the common case); only the others go through the grouped "last non-null".
    fields = [name for name in data.column_names if name not in key_names
              and pc.any(pc.and_(replaced, pc.is_null(result.column(name)))).as_py()]
    if not fields:
        return result
    # Group ids count key changes; only rows of duplicated keys are grouped.
    group = pc.subtract(pc.cumulative_sum(pc.cast(pc.invert(same_as_previous), pa.int64())), 1)
    duplicated = data.select(fields).append_column("__group", group).filter(in_duplicate)
    merged = duplicated.group_by("__group", use_threads=False).aggregate(
        [(name, "last") for name in fields])
    # Groups come out in order of first appearance, which is the sorted order.
    merged = merged.sort_by("__group")
    for name in fields:
        column = result.column(name).combine_chunks()
        values = merged.column(f"{name}_last").combine_chunks().cast(column.type)
        result = result.set_column(result.schema.get_field_index(name), name,
                                   pc.replace_with_mask(column, replaced, values))
    return result
