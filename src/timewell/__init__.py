"""timewell: a time-series database server with an embedded Python processing engine."""

__version__ = "0.1.0"
