"""Line-protocol parser benchmark: the columnar fast path against the exact parser.

    python bench/parser.py [--lines 10000] [--repeat 15] [--json]

Two batches: a homogeneous one (one shape, 1,000 series, every line with a timestamp) and a
mixed-ish one (six measurements interleaved, quoted strings with spaces, a few lines with
escapes, missing timestamps, a comment and errors). Each parser runs `--repeat` times per
batch on one thread; the median gives lines/s, by the wall clock and by CPU time.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from timewell.lineprotocol import ParsedBody, parse_exact, parse_with_stats  # noqa: E402

BASE_TIME = 1_700_000_000_000_000_000


def homogeneous_batch(lines: int) -> bytes:
    return (
        "\n".join(
            f"cpu,host=host{i % 1000:04d},region=us-west "
            f"usage_user={(i * 7) % 100}.5,usage_system=3.25,idle={i % 100}i {BASE_TIME + i}"
            for i in range(lines)
        ).encode()
        + b"\n"
    )


def mixed_batch(lines: int) -> bytes:
    rng = random.Random(42)
    out = ["# mixed batch"]
    for i in range(lines - 1):
        host = f"host{rng.randrange(200):03d}"
        stamp = BASE_TIME + i * 1_000_000
        roll = rng.random()
        if roll < 0.40:
            out.append(
                f"cpu,host={host},cpu=cpu{rng.randrange(8)} usage_user={rng.random() * 100:.3f},"
                f"usage_system={rng.random() * 10:.3f},usage_idle={rng.random() * 100:.2f} {stamp}"
            )
        elif roll < 0.65:
            out.append(
                f"mem,host={host} used={rng.randrange(1 << 34)}i,free={rng.randrange(1 << 34)}i,"
                f"used_percent={rng.random() * 100:.2f} {stamp}"
            )
        elif roll < 0.80:
            out.append(
                f"disk,host={host},path=/data{rng.randrange(4)},device=sda{rng.randrange(4)} "
                f"free={rng.randrange(1 << 40)}u,inodes_used={rng.randrange(1 << 20)}i,"
                f"ro={'t' if rng.random() < 0.1 else 'f'} {stamp // 1000}"
            )
        elif roll < 0.90:
            out.append(f'net,host={host},iface=eth0 state="up",drops={rng.randrange(9)}i {stamp}')
        elif roll < 0.95:
            out.append(
                f'log,host={host},level=warn message="disk {rng.randrange(9)} is slow, retrying",'
                f"code={rng.randrange(600)}i {stamp}"
            )
        elif roll < 0.97:
            out.append(
                f"http\\ requests,host={host},path=/api\\,v2 count={rng.randrange(99)}i {stamp}"
            )
        elif roll < 0.99:
            out.append(f"heartbeat,host={host} alive=true")
        elif roll < 0.995:
            out.append(f"cpu,host={host} usage_user=oops {stamp}")
        else:
            out.append("")
    return "\n".join(out).encode() + b"\n"


def lines_per_second(
    parse: Callable[[bytes], ParsedBody], body: bytes, count: int, repeat: int
) -> tuple[float, float]:
    """Median lines/s by the wall clock and by this process's CPU time (steadier on a busy
    machine: time spent waiting for a core is not counted)."""
    parse(body)  # warm caches (regex compilation, the index arrays)
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        parse(body)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return count / statistics.median(wall), count / statistics.median(cpu)


def run(lines: int, repeat: int) -> dict[str, object]:
    result: dict[str, object] = {"lines_per_batch": lines, "repeat": repeat}
    for name, body in (("homogeneous", homogeneous_batch(lines)), ("mixed", mixed_batch(lines))):
        parsed, stats = parse_with_stats(body, default_time_ns=BASE_TIME)
        fast, fast_cpu = lines_per_second(
            lambda b: parse_with_stats(b, default_time_ns=BASE_TIME)[0],
            body,
            parsed.line_count,
            repeat,
        )
        exact, exact_cpu = lines_per_second(
            lambda b: parse_exact(b, default_time_ns=BASE_TIME),
            body,
            parsed.line_count,
            max(3, repeat // 3),
        )
        result[name] = {
            "lines": parsed.line_count,
            "bytes": len(body),
            "fast_path_lines": stats.fast_lines,
            "exact_fallback_lines": stats.exact_lines,
            "errors": len(parsed.errors),
            "parse_lines_per_s": round(fast),
            "exact_lines_per_s": round(exact),
            "speedup": round(fast / exact, 1),
            "parse_cpu_lines_per_s": round(fast_cpu),
            "exact_cpu_lines_per_s": round(exact_cpu),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = run(args.lines, args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name in ("homogeneous", "mixed"):
        r = result[name]
        assert isinstance(r, dict)
        print(
            f"{name:12} {r['lines']:>7,} lines  parse (fast path) {r['parse_lines_per_s']:>10,} "
            f"lines/s  exact {r['exact_lines_per_s']:>8,} lines/s  x{r['speedup']}  "
            f"(fast {r['fast_path_lines']:,}, exact fallback {r['exact_fallback_lines']:,}, "
            f"errors {r['errors']}; by CPU time {r['parse_cpu_lines_per_s']:,} / "
            f"{r['exact_cpu_lines_per_s']:,})"
        )


if __name__ == "__main__":
    main()
