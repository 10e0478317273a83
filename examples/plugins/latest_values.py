"""Request trigger: `GET /api/v3/engine/latest?table=cpu` answers the latest row per series as
JSON; `POST` with line protocol in the body writes it to the trigger's database.

    timewell create trigger latest -d mydb --trigger-spec request:latest --path latest_values.py
"""


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    if request_body:
        for text in request_body.decode().splitlines():
            if text.strip():
                influxdb3_local.write(_Raw(text))
        return {"written": len([t for t in request_body.splitlines() if t.strip()])}
    table = query_parameters.get("table")
    if not table:
        return {"error": "pass ?table=<name>"}, 400
    rows = influxdb3_local.query(f"SELECT * FROM '{table}' ORDER BY time DESC LIMIT 10")
    return {"table": table, "rows": rows}


class _Raw:
    """Anything with build() can be written; here a line of line protocol as it came."""

    def __init__(self, text):
        self.text = text

    def build(self):
        return self.text
