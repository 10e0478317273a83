"""Write trigger: copy rows whose field passes a threshold into an `alerts` table.

    timewell create trigger cpu_alerts -d mydb --trigger-spec table:cpu \
        --path threshold_alert.py --trigger-arguments field=usage,threshold=90
"""


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
                line.string_field("field", field)
                line.float64_field("value", float(value))
                line.time_ns(row["time"])
                influxdb3_local.write(line)
                alerts += 1
    influxdb3_local.info(f"{alerts} alert(s) over {threshold} on '{field}'")
