"""Write trigger: copy rows whose field passes a threshold into an `alerts` table, keeping the
row's tags (and other string columns) so that each alert says which series it came from.

    timewell create trigger cpu_alerts -d mydb --trigger-spec table:cpu \
        --path threshold_alert.py --trigger-arguments field=usage,threshold=90
"""

_OWN_COLUMNS = ("source", "field", "value", "time")


def process_writes(influxdb3_local, table_batches, args):
    field = (args or {}).get("field", "value")
    threshold = float((args or {}).get("threshold", "0"))
    alerts = 0
    for batch in table_batches:
        if batch["table_name"] == "alerts":  # our own output: don't react to it
            continue
        for row in batch["rows"]:
            value = row.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool) \
                    and value > threshold:
                line = LineBuilder("alerts")  # noqa: F821 - a builtin inside timewell
                line.tag("source", batch["table_name"])
                for key, text in row.items():
                    # Tags arrive as str: carried over, two series alerting at the same
                    # instant stay two alerts.
                    if isinstance(text, str) and text and key not in _OWN_COLUMNS:
                        line.tag(key, text)
                line.string_field("field", field)
                line.float64_field("value", float(value))
                line.time_ns(row["time"])
                influxdb3_local.write(line)
                alerts += 1
    influxdb3_local.info(f"{alerts} alert(s) over {threshold} on '{field}'")
