"""Power-loss crash harness at many crash points: a node in-process on a PowerCutStore, the
power cut at a random store operation, two boots on what survives, invariants checked.

Point i runs seed SEED * 1,000,000 + i; a failure prints its seed, and `--only SEED` runs that
one point again and prints every problem found. `tests/storage/powercut_harness.py` describes
the workload, the durability model and the invariants.

    .venv/bin/python bench/crash.py [--points 2000] [--seed 1] [--overlap] [--atomic-puts]
                                    [--torn-durable-puts] [--no-dedup] [--only SEED] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.storage

from tests.storage.powercut_harness import (  # noqa: E402
    PHASES,
    PointResult,
    dedup_implemented,
    run_point,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000, help="crash points to run")
    parser.add_argument("--seed", type=int, default=1, help="base seed of the points")
    parser.add_argument("--only", type=int, help="run the point of this seed alone, verbosely")
    parser.add_argument("--overlap", action="store_true",
                        help="snapshots and maintenance beside the writes, as in a server "
                             "(timing-dependent: a seed may not reproduce exactly)")
    parser.add_argument("--atomic-puts", action="store_true",
                        help="no put is ever torn (S3); default: a local file system, where a "
                             "put not yet fsync'd, or cut short, can be")
    parser.add_argument("--torn-durable-puts", action="store_true",
                        help="durable puts rename before their bytes are durable, so one cut "
                             "short can leave a torn file (obstore's own local put); default: "
                             "as ObjectStore.durable_put, fsync then rename")
    parser.add_argument("--no-dedup", action="store_true",
                        help="check every written line as its own row even if the node "
                             "deduplicates (default: ask the node)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the abandoned nodes complain loudly

    dedup = not args.no_dedup and dedup_implemented()
    options = {"dedup": dedup, "overlap": args.overlap, "torn_writes": not args.atomic_puts,
               "atomic_durable_put": not args.torn_durable_puts}
    if args.only is not None:
        result = run_point(args.only, **options)
        print(f"seed {result.seed}: cut at operation {result.cut_at} of {result.operations} "
              f"({result.phase}), {result.acked} steps acknowledged, {result.seconds:.2f}s")
        for failure in result.failures:
            print(f"  {failure}")
        raise SystemExit(1 if result.failures else 0)

    started = time.perf_counter()
    results: list[PointResult] = []
    for i in range(args.points):
        results.append(run_point(args.seed * 1_000_000 + i, **options))
        if not args.json and (i + 1) % 100 == 0:
            print(f"  {i + 1} points, {sum(bool(r.failures) for r in results)} failed, "
                  f"{time.perf_counter() - started:.0f}s", file=sys.stderr)
    seconds = time.perf_counter() - started
    phases = Counter(r.phase for r in results)
    failed = [r for r in results if r.failures]
    if args.json:
        print(json.dumps({
            "points": len(results), "seconds": round(seconds, 1), "dedup": dedup, **options,
            "phases": {p: phases[p] for p in PHASES},
            "failures": [{"seed": r.seed, "cut_at": r.cut_at, "phase": r.phase,
                          "problems": r.failures} for r in failed],
        }, indent=2))
    else:
        print(f"{len(results)} crash points in {seconds:.0f}s "
              f"({'last write wins' if dedup else 'every line a row'}"
              f"{', overlapping' if args.overlap else ''}"
              f"{', atomic puts' if args.atomic_puts else ', torn puts'}"
              f"{', torn durable puts' if args.torn_durable_puts else ''})")
        print("by phase: " + ", ".join(f"{p} {phases[p]}" for p in PHASES))
        print(f"{len(failed)} failed")
        for r in failed:
            print(f"  seed {r.seed} (cut at operation {r.cut_at}, {r.phase}): {r.failures[0]}"
                  + (f" (+{len(r.failures) - 1} more)" if len(r.failures) > 1 else ""))
        if failed:
            print(f"reproduce: .venv/bin/python bench/crash.py --only {failed[0].seed}"
                  f"{' --overlap' if args.overlap else ''}"
                  f"{' --atomic-puts' if args.atomic_puts else ''}"
                  f"{' --torn-durable-puts' if args.torn_durable_puts else ''}"
                  f"{' --no-dedup' if args.no_dedup else ''}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
