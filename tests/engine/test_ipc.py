"""The server-worker wire: packets with descriptors, big messages and Arrow tables through
shared memory."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from timewell.engine.ipc import Channel, ChannelClosed, read_tables, write_tables


@pytest.fixture
def channels():
    a, b = Channel.pair()
    yield Channel(a), Channel(b)
    a.close()
    b.close()


def test_messages_keep_their_boundaries_and_big_ones_arrive_whole(channels) -> None:
    left, right = channels
    left.send(("small", 1))
    left.send(("big", "x" * 1_000_000))
    assert right.recv() == (("small", 1), [])
    message, fds = right.recv()
    assert message == ("big", "x" * 1_000_000) and fds == []


def test_tables_travel_as_arrow_in_shared_memory_without_a_copy(channels) -> None:
    left, right = channels
    table = pa.table({"v": list(range(1000)), "s": ["x"] * 1000})
    fd, layout = write_tables([("cpu", table), ("mem", table.slice(10, 5))])
    left.send(("tables", layout), [fd])
    os.close(fd)
    (_, received_layout), fds = right.recv()
    allocated = pa.total_allocated_bytes()
    tables = read_tables(fds[0], received_layout)
    # the buffers point into the mapping: reading allocated (next to) nothing
    assert pa.total_allocated_bytes() - allocated < table.nbytes // 10
    assert [(name, t.num_rows) for name, t in tables] == [("cpu", 1000), ("mem", 5)]
    assert tables[0][1].equals(table)
    assert tables[1][1].column("v").to_pylist() == list(range(10, 15))


def test_a_closed_end_is_channel_closed(channels) -> None:
    left, right = channels
    left.close()
    with pytest.raises(ChannelClosed):
        right.recv()
