"""Upstream `influxdb3/tests/server/limits.rs` (`limits`, run upstream with
`--features=limits`)."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import api, write_lp


def _write(server, db: str, lp: str) -> int:
    return api(server, "POST", "/api/v3/write_lp", params={"db": db},
               content=lp.encode()).status_code


@pytest.mark.differs("upstream Core refuses a 6th database and a 2001st table with 422; "
                     "timewell has no such product caps (contract section 1: better), so both "
                     "are created; the per-table column limit (500, time included) answers 422 "
                     "as upstream")
def test_limits_limits(module_server):
    s = module_server
    for db in ("one", "two", "three", "four", "five", "six"):
        assert _write(s, f"lim_{db}", "cpu,host=s1,region=us-east usage=0.9 1\n") == 204
    lines = "".join(f"cpu{i},host=s1,region=us-east usage=0.9 1\n" for i in range(2001))
    write_lp(s, "lim_one", lines, precision="nanosecond")
    columns = "".join(f",column{i}=1" for i in range(5, 501))
    lp_500 = f"cpu,host=foo,region=bar usage=2{columns} 0\n"
    lp_501 = f"cpu,host=foo,region=bar usage=2{columns},column501=1 0\n"
    assert _write(s, "lim_one", lp_500) == 204
    assert _write(s, "lim_one", lp_501) == 422
