"""The engine's pointers to WAL flushes: batches for a trigger behind, lag, pruning."""

from __future__ import annotations

import pyarrow as pa

from timewell.engine.flush_log import FlushLog, combined_event
from timewell.storage.wal import WalFlush
from timewell.storage.walfile import TableWrite


def _flush(sequence: int, **rows_per_table: int) -> WalFlush:
    return WalFlush(sequence, [TableWrite("db", table, pa.table({"v": list(range(rows))}))
                               for table, rows in rows_per_table.items()])


def test_batches_skip_flushes_without_rows_for_the_trigger():
    log = FlushLog(lambda _seq: None)
    for flush in (_flush(1, a=2), _flush(2, b=5), _flush(4, a=1, b=1), _flush(5, b=1)):
        log.add(flush)
    batch, through = log.next_batch(0, "db", "a", max_flushes=10, max_rows=100)
    assert [i.sequence for i in batch] == [1, 4] and through == 5
    batch, through = log.next_batch(0, "db", "a", max_flushes=1, max_rows=100)
    assert [i.sequence for i in batch] == [1] and through == 2  # passes flush 2 as well
    assert log.next_batch(5, "db", "a", 10, 100) == ([], 5)
    lag = log.lag(0, "db", None)
    assert (lag.flushes, lag.rows) == (4, 10)
    assert log.lag(4, "db", "a").flushes == 0
    log.prune(2)
    assert [i.sequence for i in log.pending(0, "db", None)] == [4, 5]


def test_rows_bound_a_batch_but_a_big_flush_still_goes():
    log = FlushLog(lambda _seq: None)
    for sequence in range(1, 4):
        log.add(_flush(sequence, a=10))
    batch, through = log.next_batch(0, "db", "a", max_flushes=10, max_rows=5)
    assert [i.sequence for i in batch] == [1] and through == 1
    batch, _ = log.next_batch(0, "db", "a", max_flushes=10, max_rows=25)
    assert [i.sequence for i in batch] == [1, 2]


def test_combined_event_concatenates_per_table_in_wal_order():
    event = combined_event([_flush(1, a=2, b=1), _flush(2, a=3)], "db", None)
    assert [(name, table.num_rows) for name, table in event.tables] == [("a", 5), ("b", 1)]
    assert event.tables[0][1].column("v").to_pylist() == [0, 1, 0, 1, 2]


def test_old_flushes_come_from_the_wal_once_memory_lets_them_go(monkeypatch):
    import timewell.engine.flush_log as flush_log

    monkeypatch.setattr(flush_log, "RECENT_BYTES", 1)
    read = []
    log = FlushLog(lambda seq: read.append(seq) or _flush(seq, a=1))
    log.add(_flush(1, a=1))
    log.add(_flush(2, a=1))
    assert log.is_recent(2) and not log.is_recent(1)
    assert log.load(2).sequence == 2 and read == []
    assert log.load(1).sequence == 1 and read == [1]
