"""Back-pressure: while snapshots fail, buffered data stops at --buffer-mem-limit and writes are
refused with 503 + Retry-After; nothing acknowledged is lost; writes resume after a snapshot.

Snapshots are made to fail for real, as root too (chmod does not stop root): a regular file
sits where the Parquet directory `<node>/dbs` would be, so every Parquet write fails with "Not
a directory" while the WAL and the catalog, in their own directories, keep working. Removing
the file is the storage coming back.
"""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import wait_for

LIMITS = ("--buffer-mem-limit", "1MiB", "--force-snapshot-mem-threshold", "512KiB")
ROWS_PER_WRITE = 2000
BASE_NS = 1_700_000_000_000_000_000

PLUGIN = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    line = LineBuilder("from_plugin")
    line.int64_field("v", 1)
    try:
        influxdb3_local.write_sync(line)
    except Exception as e:
        return {"error": str(e)}
    return {"error": None}
"""


def batch(number: int) -> str:
    """ROWS_PER_WRITE rows (about 90 KB as Arrow), at times unique across batches."""
    first = number * ROWS_PER_WRITE
    return "\n".join(f'cpu,host=h{i % 10} usage={i}i,note="{"x" * 20}" {BASE_NS + i}'
                     for i in range(first, first + ROWS_PER_WRITE))


def broken_parquet_store(tmp_path):
    """A data directory whose Parquet writes fail: a file where `<node>/dbs/` must go."""
    data_dir = tmp_path / "data"
    (data_dir / "local").mkdir(parents=True)
    blocker = data_dir / "local" / "dbs"
    blocker.write_text("not a directory: Parquet files cannot be written under here\n")
    return data_dir, blocker


def metrics(server) -> dict[str, float]:
    """Sample name with labels (`name{k="v"}`) to value; the node_id every series has is left
    out."""
    text = httpx.get(f"{server.url}/metrics").text
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            assert s.labels.get("node_id") == "local"
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items())
                              if k != "node_id")
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


def write_until_refused(server) -> tuple[int, httpx.Response]:
    """Write batches until one is refused: (rows acknowledged, the refusal)."""
    for number in range(200):  # 200 batches ≈ 18 MB: far past the 1 MiB limit
        response = server.write(batch(number), precision="ns")
        if response.status_code != 204:
            return number * ROWS_PER_WRITE, response
    pytest.fail("writes were never refused although every snapshot failed")


def test_writes_refused_at_buffer_limit_and_resumed_after_snapshot(make_server, tmp_path):
    data_dir, blocker = broken_parquet_store(tmp_path)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "bp.py").write_text(PLUGIN)
    server = make_server(*LIMITS, "--plugin-dir", str(plugins), data_dir=data_dir)

    acked, refused = write_until_refused(server)
    # the snapshot threshold (512 KiB) was passed before the limit, and the snapshots failed
    assert acked > 0 and "Not a directory" in server.log()
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"  # the 10ms flush interval, in whole seconds
    message = refused.json()["error"]
    assert "--buffer-mem-limit" in message and "snapshot" in message
    assert "acknowledged so far is safe" in message

    # every write endpoint refuses the same way (v2 in its own error shape)
    v2 = httpx.post(f"{server.url}/api/v2/write", params={"bucket": "test"},
                    content=b"cpu,host=v2 usage=1i")
    assert v2.status_code == 503 and v2.headers["retry-after"] == "1"
    assert v2.json()["code"] == "unavailable" and "--buffer-mem-limit" in v2.json()["message"]
    v1 = httpx.post(f"{server.url}/write", params={"db": "test"},
                    content=b"cpu,host=v1 usage=1i")
    assert v1.status_code == 503 and v1.headers["retry-after"] == "1"
    assert "--buffer-mem-limit" in v1.json()["error"]

    # a plugin writing back goes through the same write service and gets the refusal as an
    # error (creating the trigger is a catalog change, not a write, so it is allowed)
    created = httpx.post(f"{server.url}/api/v3/configure/processing_engine_trigger", json={
        "db": "test", "plugin_filename": "bp.py", "trigger_name": "bp",
        "trigger_specification": "request:bp"})
    assert created.status_code == 200, created.text
    from_plugin = httpx.post(f"{server.url}/api/v3/engine/bp").json()
    assert "--buffer-mem-limit" in (from_plugin["error"] or "")

    # nothing acknowledged was dropped, nothing refused was written
    assert server.rows("SELECT count(*) AS n, sum(usage) AS total FROM cpu") == [
        {"n": acked, "total": sum(range(acked))}]
    assert server.rows("SELECT count(*) AS n FROM cpu WHERE host IN ('v1', 'v2')") == [{"n": 0}]

    seen = metrics(server)
    assert seen['timewell_writes_refused_total{reason="buffer_full"}'] == 4
    assert seen["timewell_buffer_bytes"] >= 1024 * 1024
    assert seen["timewell_buffer_limit_bytes"] == 1024 * 1024

    # the storage comes back: a refused write asks for a snapshot, it succeeds, the memory is
    # freed and writes are accepted again
    blocker.unlink()
    resumed = wait_for(lambda: server.write(batch(1000), precision="ns").status_code == 204,
                       interval=0.2)
    assert resumed
    assert server.rows("SELECT count(*) AS n FROM system.parquet_files") != [{"n": 0}]
    assert server.rows("SELECT count(*) AS n FROM cpu") == [{"n": acked + ROWS_PER_WRITE}]
    assert metrics(server)["timewell_buffer_bytes"] < 1024 * 1024
    assert "accepting writes" in server.log()


def test_refusal_names_the_snapshot_error(make_server, tmp_path):
    data_dir, _ = broken_parquet_store(tmp_path)
    server = make_server(*LIMITS, data_dir=data_dir)
    _, refused = write_until_refused(server)
    assert refused.status_code == 503
    assert "the last snapshot failed" in refused.json()["error"]
    assert "Not a directory" in refused.json()["error"]
