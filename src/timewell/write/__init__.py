"""The write path: line protocol in, validated Arrow tables into the WAL."""

from timewell.write.service import RejectedLines, WriteOutcome, WriteService
from timewell.write.validate import WriteLimits

__all__ = ["RejectedLines", "WriteLimits", "WriteOutcome", "WriteService"]
