"""Schedule trigger: every run, count the rows of a table written since the previous run and
write the count to a `summary` table; remembers the previous run in the plugin cache.

    timewell create trigger cpu_summary -d mydb --trigger-spec every:10s \
        --path periodic_summary.py --trigger-arguments table=cpu
"""


def process_scheduled_call(influxdb3_local, call_time, args):
    table = (args or {}).get("table", "cpu")
    previous = influxdb3_local.cache.get("last_call_ns", default=0)
    now_ns = int(call_time.timestamp() * 1_000_000_000)  # call_time is naive UTC
    rows = influxdb3_local.query(
        f"SELECT count(*) AS n FROM '{table}' WHERE time > to_timestamp_nanos($since)",
        {"since": previous})
    count = rows[0]["n"] if rows else 0
    line = LineBuilder("summary")  # noqa: F821 - a builtin inside timewell
    line.tag("table", table)
    line.int64_field("rows", count)
    line.time_ns(now_ns)
    influxdb3_local.write(line)
    influxdb3_local.cache.put("last_call_ns", now_ns)
    influxdb3_local.info(f"{count} new row(s) in {table} at {call_time.isoformat()}")
