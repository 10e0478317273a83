"""Subqueries: an inner statement's series as the table the outer statement reads."""

from __future__ import annotations

from timewell.catalog.model import ColumnType
from timewell.query.influxql.results import Series
from timewell.query.influxql.subquery import _table


def test_inner_series_become_one_table_with_tags_and_typed_fields():
    series = [
        Series("cpu", {"host": "a"}, ["time", "m", "n", "region"],
               [[1, 1.5, 2, "east"], [2, None, None, None], [3, 2, 4, "east"]]),
        Series("cpu", {"host": "b"}, ["time", "m"], [[1, 7.0]]),
    ]
    table, schema = _table(series, tag_columns={"region"})
    assert schema == {"time": ColumnType.TIME, "host": ColumnType.TAG,
                      "m": ColumnType.FLOAT, "n": ColumnType.INTEGER, "region": ColumnType.TAG}
    # a row without any field value (an empty bucket) is no point
    assert table.to_pydict() == {"time": table.column("time").to_pylist(),
                                 "host": ["a", "a", "b"], "m": [1.5, 2.0, 7.0],
                                 "n": [2, 4, None], "region": ["east", "east", None]}
    assert [t.value for t in table.column("time").to_pylist()] == [1, 3, 1]
