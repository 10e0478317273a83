"""Last value and distinct value caches against a real server: management, SQL, restarts."""

from __future__ import annotations

import subprocess
import sys
import time

LVC = "/api/v3/configure/last_cache"
DVC = "/api/v3/configure/distinct_cache"


def wait_for(check, timeout: float = 10.0):
    """Poll `check()` until it returns something truthy; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def timewell(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "timewell", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_last_cache_keeps_latest_n_per_key_including_out_of_order_writes(server):
    assert server.write("cpu,host=a,region=x usage=1 10").status_code == 204
    created = server.client().post(LVC, json={"db": "test", "table": "cpu", "count": 2})
    assert created.status_code == 201, created.text
    assert created.json() == {
        "db": "test", "table": "cpu", "name": "cpu_host_region_last_cache",
        "key_columns": ["host", "region"], "value_columns": ["usage", "time"],
        "accept_new_columns": True, "count": 2, "ttl": 14400}
    server.write("cpu,host=a,region=x usage=4 40\ncpu,host=b,region=y usage=2 20")
    server.write("cpu,host=a,region=x usage=3 30\ncpu,host=a,region=x usage=2 20")  # late
    server.write("cpu,host=b,region=y usage=5 50")
    rows = server.rows("SELECT host, usage, arrow_cast(time, 'Int64') / 1000000000 AS t "
                       "FROM last_cache('cpu') ORDER BY host, t DESC")
    assert rows == [{"host": "a", "usage": 4.0, "t": 40}, {"host": "a", "usage": 3.0, "t": 30},
                    {"host": "b", "usage": 5.0, "t": 50}, {"host": "b", "usage": 2.0, "t": 20}]


def test_last_cache_answers_like_the_scan_it_replaces(server):
    lines = [f"m,host=h{i % 7} v={i}i {(i * 37) % 200}" for i in range(200)]
    server.write("\n".join(lines))
    server.client().post(LVC, json={"db": "test", "table": "m"})
    cached = server.rows("SELECT host, v FROM last_cache('m') ORDER BY host")
    scanned = server.rows("SELECT host, v FROM (SELECT host, v, row_number() OVER "
                          "(PARTITION BY host ORDER BY time DESC) AS r FROM m) WHERE r = 1 "
                          "ORDER BY host")
    assert cached == scanned and len(cached) == 7


def test_where_on_key_columns_narrows_the_lookup(server):
    server.write("\n".join(f"cpu,host=h{i},region=r{i % 3} usage={i} {i}" for i in range(30)))
    server.client().post(LVC, json={"db": "test", "table": "cpu"})
    assert server.rows("SELECT host, usage FROM last_cache('cpu') WHERE host = 'h4'") == [
        {"host": "h4", "usage": 4.0}]
    assert server.rows("SELECT host FROM last_cache('cpu') WHERE region = 'r1' AND "
                       "host IN ('h1', 'h2', 'h4') ORDER BY host") == [{"host": "h1"},
                                                                      {"host": "h4"}]
    assert server.rows("SELECT host FROM last_cache('cpu') WHERE host = 'h5' AND usage > 9") == []
    assert server.rows("SELECT count(*) AS n FROM last_cache('cpu') WHERE host = 'nope'") == [
        {"n": 0}]
    # The plain lookup is answered from the cache directly; through DataFusion (the `1 = 1`
    # makes it go there) it is the same answer, in every format.
    for fmt in ("json", "csv", "pretty"):
        for where in ("host = 'h4'", "\"host\" = 'h4' AND region = 'r1'", "host = 'nope'"):
            direct = server.query(f"SELECT * FROM last_cache('cpu') WHERE {where}", fmt=fmt)
            planned = server.query(f"SELECT * FROM last_cache('cpu') WHERE {where} AND 1 = 1",
                                   fmt=fmt)
            assert direct.status_code == planned.status_code == 200
            assert direct.text == planned.text
    plan = server.rows("EXPLAIN SELECT * FROM last_cache('cpu') WHERE host = 'h4'")
    physical = next(r["plan"] for r in plan if r["plan_type"] == "physical_plan")
    assert 'filter_expr=(host == "h4")' in physical  # handed to the cache, not scanned after
    joined = server.rows("SELECT c.host, c.usage FROM cpu c JOIN last_cache('cpu') l "
                         "ON c.host = l.host AND c.time = l.time WHERE l.host = 'h7'")
    assert joined == [{"host": "h7", "usage": 7.0}]


def test_ttl_evicts_old_rows(server):
    server.write("sensor,id=1 temp=20")
    server.client().post(LVC, json={"db": "test", "table": "sensor", "ttl": 1})
    assert len(server.rows("SELECT * FROM last_cache('sensor')")) == 1
    assert wait_for(lambda: server.rows("SELECT * FROM last_cache('sensor')") == [])
    server.write("sensor,id=2 temp=21")
    assert [r["id"] for r in server.rows("SELECT id FROM last_cache('sensor')")] == ["2"]


def test_distinct_cache_hierarchy_and_narrowing(server):
    server.write("\n".join([
        "cpu,region=us,host=b v=1", "cpu,region=eu,host=c v=1", "cpu,region=us,host=a v=1",
        "cpu,region=us,host=b v=2", "cpu,host=z v=1",  # no region: not a combination
    ]))
    created = server.client().post(DVC, json={"db": "test", "table": "cpu",
                                              "columns": ["region", "host"]})
    assert created.status_code == 201, created.text
    assert created.json() == {"db": "test", "table": "cpu",
                              "name": "cpu_region_host_distinct_cache",
                              "columns": ["region", "host"], "max_cardinality": 100000,
                              "max_age": 86400}
    assert server.rows("SELECT * FROM distinct_cache('cpu')") == [
        {"region": "eu", "host": "c"}, {"region": "us", "host": "a"},
        {"region": "us", "host": "b"}]
    assert server.rows("SELECT host FROM distinct_cache('cpu') WHERE region = 'us'") == [
        {"host": "a"}, {"host": "b"}]
    assert server.rows("SELECT DISTINCT region FROM distinct_cache('cpu') ORDER BY region") == [
        {"region": "eu"}, {"region": "us"}]


def test_distinct_cache_cardinality_bound_keeps_the_most_recent(server):
    server.client().post("/api/v3/configure/database", json={"db": "test"})
    server.client().post("/api/v3/configure/table", json={"db": "test", "table": "logs",
                                                          "tags": ["source"]})
    created = server.client().post(DVC, json={"db": "test", "table": "logs",
                                              "columns": ["source"], "max_cardinality": 3})
    assert created.status_code == 201, created.text
    for source in ["s1", "s2", "s3", "s1", "s4", "s5"]:
        server.write(f"logs,source={source} n=1i")
    assert server.rows("SELECT source FROM distinct_cache('logs')") == [
        {"source": "s1"}, {"source": "s4"}, {"source": "s5"}]


def test_distinct_cache_max_age(server):
    server.write("ev,kind=a n=1i")
    server.client().post(DVC, json={"db": "test", "table": "ev", "columns": ["kind"],
                                    "max_age": 1})
    assert server.rows("SELECT kind FROM distinct_cache('ev')") == [{"kind": "a"}]
    assert wait_for(lambda: server.rows("SELECT kind FROM distinct_cache('ev')") == [])


def test_caches_are_back_filled_and_rebuilt_after_restart(make_server):
    server = make_server()
    server.write("cpu,host=a usage=1 1\ncpu,host=b usage=2 2\ncpu,host=a usage=3 3")
    client = server.client()
    assert client.post(LVC, json={"db": "test", "table": "cpu", "name": "last"}).status_code == 201
    assert client.post(DVC, json={"db": "test", "table": "cpu", "columns": ["host"],
                                  "name": "hosts"}).status_code == 201
    expected_last = [{"host": "a", "usage": 3.0}, {"host": "b", "usage": 2.0}]
    query_last = "SELECT host, usage FROM last_cache('cpu', 'last') ORDER BY host"
    assert server.rows(query_last) == expected_last  # back-filled on creation
    assert server.rows("SELECT * FROM distinct_cache('cpu', 'hosts')") == [{"host": "a"},
                                                                           {"host": "b"}]
    server.write("cpu,host=c usage=4 4")
    server.kill()
    server.start()
    assert server.rows(query_last) == [*expected_last, {"host": "c", "usage": 4.0}]
    assert server.rows("SELECT * FROM distinct_cache('cpu', 'hosts')") == [
        {"host": "a"}, {"host": "b"}, {"host": "c"}]
    names = server.rows("SELECT name FROM system.last_caches")
    assert names == [{"name": "last"}]


def test_management_statuses_and_messages(server):
    client = server.client()
    server.write("cpu,host=a usage=1,state=\"ok\",n=1i,flag=true")
    body = {"db": "test", "table": "cpu", "key_columns": ["host", "n"], "ttl": 60}
    assert client.post(LVC, json=body).status_code == 201
    again = client.post(LVC, json=body)
    assert again.status_code == 200 and again.json()["name"] == "cpu_host_n_last_cache"
    conflict = client.post(LVC, json={**body, "ttl": 30})
    assert conflict.status_code == 409 and "ttl" in conflict.json()["error"]
    bad_key = client.post(LVC, json={"db": "test", "table": "cpu", "key_columns": ["usage"]})
    assert bad_key.status_code == 400
    assert "float64" in bad_key.json()["error"] and "tag, string" in bad_key.json()["error"]
    for key in ["state", "flag"]:
        ok = client.post(LVC, json={"db": "test", "table": "cpu", "key_columns": [key]})
        assert ok.status_code == 201, ok.text
    missing = client.post(LVC, json={"db": "test", "table": "cpu", "key_columns": ["nope"]})
    assert missing.status_code == 400 and "nope" in missing.json()["error"]
    assert client.post(LVC, json={"db": "test", "table": "nope"}).status_code == 404
    assert client.post(LVC, json={"db": "nodb", "table": "cpu"}).status_code == 404
    assert client.post(LVC, json={"db": "test", "table": "cpu", "count": 0}).status_code == 400
    bad_dvc = client.post(DVC, json={"db": "test", "table": "cpu", "columns": ["n"]})
    assert bad_dvc.status_code == 400 and "tag or string" in bad_dvc.json()["error"]
    assert client.post(DVC, json={"db": "test", "table": "cpu"}).status_code == 400

    several = server.query("SELECT * FROM last_cache('cpu')")
    assert several.status_code == 400 and "cpu_host_n_last_cache" in several.json()["error"]
    assert server.query("SELECT * FROM last_cache('cpu', 'nope')").status_code == 404
    assert server.query("SELECT * FROM distinct_cache('cpu')").status_code == 404

    caches = server.rows("SELECT name, key_columns, value_columns, count, ttl "
                         "FROM system.last_caches ORDER BY name")
    assert caches[0] == {"name": "cpu_flag_last_cache", "key_columns": ["flag"],
                         "value_columns": ["host", "n", "state", "usage", "time"],
                         "count": 1, "ttl": 14400}
    assert len(caches) == 3
    params = {"db": "test", "table": "cpu", "name": "cpu_flag_last_cache"}
    assert client.delete(LVC, params=params).status_code == 200
    assert client.delete(LVC, params=params).status_code == 404
    as_body = client.request("DELETE", LVC, json={**params, "name": "cpu_state_last_cache"})
    assert as_body.status_code == 200
    assert server.rows("SELECT name FROM system.last_caches") == [
        {"name": "cpu_host_n_last_cache"}]


def test_cli_creates_and_deletes_caches(server, cli_env):
    server.write("home,room=kitchen temp=21\nhome,room=hall temp=19")
    made = timewell(cli_env, "create", "last_cache", "-d", "test", "--table", "home",
                    "--value-columns", "temp", "--count", "2", "--ttl", "30m")
    assert made.returncode == 0, made.stderr
    assert 'new cache created: Last cache "home_room_last_cache"' in made.stdout
    assert '"ttl": 1800' in made.stdout
    made = timewell(cli_env, "create", "distinct_cache", "-d", "test", "-t", "home",
                    "--columns", "room", "--max-cardinality", "10", "--max-age", "1h", "rooms")
    assert made.returncode == 0, made.stderr
    assert server.rows("SELECT name, max_cardinality, max_age_seconds "
                       "FROM system.distinct_caches") == [
        {"name": "rooms", "max_cardinality": 10, "max_age_seconds": 3600}]
    rooms = timewell(cli_env, "query", "-d", "test", "--format", "csv",
                     "SELECT room FROM distinct_cache('home')")
    assert rooms.stdout == "room\nhall\nkitchen\n"
    bad = timewell(cli_env, "create", "last_cache", "-d", "test", "--table", "home",
                   "--ttl", "soon")
    assert bad.returncode != 0 and "--ttl" in bad.stderr
    gone = timewell(cli_env, "delete", "last_cache", "-d", "test", "--table", "home",
                    "home_room_last_cache")
    assert gone.returncode == 0 and "deleted" in gone.stdout
    assert timewell(cli_env, "delete", "distinct_cache", "-d", "test", "-t", "home",
                    "rooms").returncode == 0
    missing = timewell(cli_env, "delete", "distinct_cache", "-d", "test", "-t", "home", "rooms")
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_plugin_reads_a_cache_through_query(make_server, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "latest.py").write_text(
        "def process_request(influxdb3_local, query_parameters, request_headers,\n"
        "                    request_body, args):\n"
        "    return influxdb3_local.query(\n"
        "        \"SELECT room, temp, time FROM last_cache('home') WHERE room = $room\",\n"
        "        {'room': query_parameters['room']})\n")
    server = make_server("--plugin-dir", str(plugins))
    assert server.write("home,room=kitchen temp=20.0 1\nhome,room=kitchen temp=21.5 2\n"
                        "home,room=hall temp=18.0 3", precision="ns").status_code == 204
    client = server.client()
    assert client.post("/api/v3/configure/last_cache",
                       json={"db": "test", "table": "home"}).status_code == 201
    assert client.post("/api/v3/configure/processing_engine_trigger", json={
        "db": "test", "plugin_filename": "latest.py", "trigger_name": "latest",
        "trigger_specification": "request:latest"}).status_code == 200
    answer = client.get("/api/v3/engine/latest", params={"room": "kitchen"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == [{"room": "kitchen", "temp": 21.5, "time": 2}]
