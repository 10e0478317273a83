"""`table_batches` entries: rows built from the Arrow table only when a plugin reads them."""

from __future__ import annotations

import json
import pickle

import pyarrow as pa

from timewell.engine.rows import TableBatch, query_rows, written_rows

TABLE = pa.table({"host": ["a", "b"], "v": [1.5, None],
                  "time": pa.array([1, 2], pa.timestamp("ns"))})


def test_rows_are_built_on_first_read_only() -> None:
    batch = TableBatch("cpu", TABLE)
    assert not dict.__contains__(batch, "rows")  # nothing built yet
    assert batch.arrow is TABLE
    assert batch["rows"] == [{"host": "a", "v": 1.5, "time": 1}, {"host": "b", "time": 2}]
    assert dict.__contains__(batch, "rows")


def test_a_batch_behaves_as_the_plain_dict_plugins_expect() -> None:
    plain = {"table_name": "cpu", "rows": written_rows(TABLE)}
    assert TableBatch("cpu", TABLE) == plain
    assert json.loads(json.dumps([TableBatch("cpu", TABLE)])) == [plain]
    assert dict(TableBatch("cpu", TABLE)) == plain
    assert sorted(TableBatch("cpu", TABLE)) == ["rows", "table_name"]
    assert TableBatch("cpu", TABLE).get("rows") == plain["rows"]
    assert pickle.loads(pickle.dumps(TableBatch("cpu", TABLE))) == plain


def test_query_rows_keep_nulls_and_convert_timestamps() -> None:
    assert query_rows(TABLE) == [{"host": "a", "v": 1.5, "time": 1},
                                 {"host": "b", "v": None, "time": 2}]
    assert query_rows(pa.table({})) == []
