"""Schedule trigger: every run, count the rows of a table whose timestamps fall since the
previous run and write the count to a `summary` table; remembers the previous run in the plugin
cache.

    timewell create trigger cpu_summary -d mydb --trigger-spec every:10s \
        --path periodic_summary.py --trigger-arguments table=cpu
"""

import calendar


def process_scheduled_call(influxdb3_local, call_time, args):
    table = (args or {}).get("table", "cpu")
    # call_time is naive UTC: timegm reads it as UTC (datetime.timestamp() would take the
    # server's local time zone).
    now_ns = calendar.timegm(call_time.timetuple()) * 1_000_000_000
    previous = influxdb3_local.cache.get("last_call_ns", default=0)
    count = 0
    if _table_exists(influxdb3_local, table):
        rows = influxdb3_local.query(
            f"SELECT count(*) AS n FROM {_identifier(table)} "
            "WHERE time > to_timestamp_nanos($since) AND time <= to_timestamp_nanos($until)",
            {"since": previous, "until": now_ns})
        count = rows[0]["n"] if rows else 0
    line = LineBuilder("summary")  # noqa: F821 - a builtin inside timewell
    line.tag("table", table)
    line.int64_field("rows", count)
    line.time_ns(now_ns)
    influxdb3_local.write(line)
    influxdb3_local.cache.put("last_call_ns", now_ns)
    influxdb3_local.info(f"{count} new row(s) in {table} at {call_time.isoformat()}")


def _table_exists(influxdb3_local, table):
    rows = influxdb3_local.query(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'iox' AND table_name = $table", {"table": table})
    return bool(rows)


def _identifier(name):
    return '"' + name.replace('"', '""') + '"'
