"""Request trigger: `GET /api/v3/engine/latest?table=cpu` answers the latest row of each series
of a table as JSON; `POST` with line protocol in the body (nanosecond timestamps) writes it to
the trigger's database.

    timewell create trigger latest -d mydb --trigger-spec request:latest --path latest_values.py
"""


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    if request_body:
        lines = [t for t in request_body.decode().splitlines() if t.strip()]
        if not lines:
            return {"written": 0}
        try:
            # write_sync: the lines are written before we answer, and a refused line raises.
            influxdb3_local.write_sync(_Raw("\n".join(lines)))
        except Exception as e:
            return {"error": str(e)}, 400
        return {"written": len(lines)}
    table = query_parameters.get("table")
    if not table:
        return {"error": "pass ?table=<name>"}, 400
    columns = influxdb3_local.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'iox' AND table_name = $table", {"table": table})
    if not columns:
        return {"error": f"table '{table}' not found"}, 404
    tags = [c["column_name"] for c in columns if c["data_type"].startswith("Dictionary")]
    names = ", ".join(_identifier(c["column_name"]) for c in columns)
    if tags:
        partition = ", ".join(_identifier(t) for t in tags)
        sql = (f"SELECT {names} FROM (SELECT {names}, row_number() OVER "
               f"(PARTITION BY {partition} ORDER BY time DESC) AS _rank "
               f"FROM {_identifier(table)}) WHERE _rank = 1 ORDER BY {partition}")
    else:
        sql = f"SELECT {names} FROM {_identifier(table)} ORDER BY time DESC LIMIT 1"
    rows = influxdb3_local.query(sql)
    # Line protocol never writes NULL: leave out the columns a row does not have.
    return {"table": table, "rows": [{k: v for k, v in r.items() if v is not None}
                                     for r in rows]}


def _identifier(name):
    return '"' + name.replace('"', '""') + '"'


class _Raw:
    """Anything with build() can be written; here lines of line protocol as they came."""

    def __init__(self, text):
        self.text = text

    def build(self):
        return self.text
