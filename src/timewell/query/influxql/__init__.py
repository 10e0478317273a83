"""InfluxQL: a parser, a translator to DataFusion SQL, and the v1 and v3 result shapes."""

from timewell.query.influxql.executor import InfluxQLEngine
from timewell.query.influxql.lexer import InfluxQLSyntaxError
from timewell.query.influxql.parser import parse
from timewell.query.influxql.results import Series, StatementResult
from timewell.query.influxql.timerange import InfluxQLError

__all__ = ["InfluxQLEngine", "InfluxQLError", "InfluxQLSyntaxError", "Series",
           "StatementResult", "parse"]
