"""Write triggers across kill -9, for longer than the test suite does: writers into `src`, a
copy trigger (`dst`, same points) and an appending one (`dst_log`, a new timestamp per row:
only exactly-once output ends exact), the server killed at a random moment each round and
restarted. At the end `dst` and `dst_log` must hold exactly the rows of `src`, which holds
every acknowledged one.

    .venv/bin/python bench/trigger_crash.py [--rounds 5] [--writers 4] [--seed 14] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.*

from tests.conftest import ServerProcess  # noqa: E402
from tests.e2e.test_engine import Engine  # noqa: E402
from tests.e2e.test_trigger_delivery import (  # noqa: E402
    APPEND_LOG,
    COPY,
    Writers,
    _count,
    _points,
)
from tests.helpers import wait_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        plugins = Path(tmp) / "plugins"
        plugins.mkdir()
        server = ServerProcess(Path(tmp) / "data", "--plugin-dir", str(plugins),
                               "--wal-snapshot-size", "20").start()
        engine = Engine(server, plugins)
        engine.plugin("copy.py", COPY)
        engine.plugin("append_log.py", APPEND_LOG)
        engine.create("copy", "table:src", "copy.py").raise_for_status()
        engine.create("log", "table:src", "append_log.py").raise_for_status()
        started = time.perf_counter()
        try:
            with Writers(lambda: server.url, count=args.writers) as writers:
                for _ in range(args.rounds):
                    time.sleep(rng.uniform(1.0, 3.0))
                    server.kill()
                    time.sleep(0.2)
                    server.start()
                    engine.http = server.client()
                time.sleep(1.0)
            src = _points(engine, "src")
            wait_for(lambda: _count(engine, "dst") >= len(src)
                     and _count(engine, "dst_log") >= len(src), timeout=120)
            time.sleep(0.5)
            logged = engine.table_rows("SELECT w, src_time FROM dst_log")
            result = {
                "rounds": args.rounds, "seconds": time.perf_counter() - started,
                "acknowledged": len(writers.acked), "src": len(src),
                "acknowledged_missing": len(writers.acked - src),
                "dst": _count(engine, "dst"), "dst_equals_src": _points(engine, "dst") == src,
                "dst_log": len(logged),
                "dst_log_equals_src": {(r["w"], r["src_time"]) for r in logged} == src,
                "redelivered_flushes": engine.stats("copy").get("redelivered_flushes"),
            }
        finally:
            server.kill()
    ok = (result["acknowledged_missing"] == 0 and result["dst_equals_src"]
          and result["dst_log"] == result["src"] and result["dst_log_equals_src"])
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:22s} {value}")
        print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
