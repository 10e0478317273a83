from __future__ import annotations

import pyarrow as pa
import pytest

from timewell.storage.walfile import CorruptWalFile, TableWrite, decode, encode


def sample() -> list[TableWrite]:
    tags = pa.array(["a", "b"]).dictionary_encode()
    return [
        TableWrite("db", "cpu", pa.table({"host": tags, "v": [1.0, 2.0],
                                          "time": pa.array([1, 2], pa.timestamp("ns"))})),
        TableWrite("db2", "mem", pa.table({"free": pa.array([5], pa.uint64()),
                                           "time": pa.array([3], pa.timestamp("ns"))})),
    ]


def test_round_trip():
    sequence, writes = decode(encode(7, sample()))
    assert sequence == 7
    assert [(w.database, w.table) for w in writes] == [("db", "cpu"), ("db2", "mem")]
    assert writes[0].data.equals(sample()[0].data)
    assert writes[1].data.equals(sample()[1].data)


@pytest.mark.parametrize("damage", [
    lambda b: b[:-1],
    lambda b: b[: len(b) // 2],
    lambda b: b[:10],
    lambda b: b"",
    lambda b: b[:-3] + bytes([b[-3] ^ 1]) + b[-2:],
    lambda b: b"XXXXXXXX" + b[8:],
])
def test_damage_is_detected(damage):
    with pytest.raises(CorruptWalFile):
        decode(damage(encode(1, sample())))


def test_table_id_round_trips_and_files_without_it_still_decode():
    data = pa.table({"v": [1.0], "time": pa.array([1], pa.timestamp("ns"))})
    _, writes = decode(encode(3, [TableWrite("db", "t", data, 42), TableWrite("db", "u", data)]))
    assert [w.table_id for w in writes] == [42, None]
    # a file from before table ids: its index entries have no "table_id" key
    old = encode(4, [TableWrite("db", "t", data)])
    assert b"table_id" not in old
    assert decode(old)[1][0].table_id is None
