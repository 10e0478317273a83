"""The InfluxQL lexer and parser."""

from __future__ import annotations

import pytest

from timewell.query.influxql import InfluxQLSyntaxError, ast, parse
from timewell.query.influxql.lexer import Kind, Lexer, duration_ns
from timewell.query.influxql.parser import Unsupported


def one(text: str, params: dict | None = None):
    statements = parse(text, params)
    assert len(statements) == 1
    return statements[0]


def test_tokens_of_a_select():
    lexer = Lexer("SELECT \"my field\", 'it''s' FROM cpu WHERE x >= 1.5 AND t = 10m")
    kinds = []
    while (tok := lexer.next()).kind is not Kind.EOF:
        kinds.append((tok.kind, tok.text))
    assert (Kind.IDENT, "my field") in kinds
    assert (Kind.NUMBER, "1.5") in kinds
    assert (Kind.DURATION, "10m") in kinds
    assert (Kind.OP, ">=") in kinds


def test_durations():
    assert duration_ns("1h30m") == 5_400_000_000_000
    assert duration_ns("1700000000000ms") == 1_700_000_000_000_000_000
    assert duration_ns("5u") == 5_000
    assert duration_ns("2w") == 2 * 7 * 86_400 * 10**9


def test_select_with_every_clause():
    stmt = one("SELECT mean(usage) AS m, max(idle) FROM cpu, /me.*/ "
               "WHERE host =~ /^a\\/b/ AND time > now() - 1h "
               "GROUP BY time(1m, -10s), host fill(linear) ORDER BY time DESC "
               "LIMIT 10 OFFSET 2 SLIMIT 3 SOFFSET 1")
    assert isinstance(stmt, ast.SelectStatement)
    assert stmt.fields[0] == ast.Field(ast.Call("mean", (ast.VarRef("usage"),)), "m")
    assert stmt.sources == [ast.Measurement(name="cpu"), ast.Measurement(regex="me.*")]
    assert stmt.group_by_time == ast.GroupByTime(60_000_000_000, 50_000_000_000)
    assert stmt.group_by_tags == ["host"]
    assert stmt.fill == ast.Fill("linear")
    assert stmt.descending
    assert (stmt.limit, stmt.offset, stmt.slimit, stmt.soffset) == (10, 2, 3, 1)
    regex = stmt.condition.lhs.rhs
    assert regex == ast.RegexLiteral("^a/b")


def test_operator_precedence():
    stmt = one("SELECT a + b * c FROM m WHERE x = 1 OR y = 2 AND z = 3")
    expr = stmt.fields[0].expr
    assert expr == ast.BinaryExpr("+", ast.VarRef("a"),
                                  ast.BinaryExpr("*", ast.VarRef("b"), ast.VarRef("c")))
    assert stmt.condition.op == "OR"
    assert stmt.condition.rhs.op == "AND"


def test_qualified_measurements_and_types():
    stmt = one('SELECT usage::float FROM "my db"."autogen"."cpu", db..mem, rp.disk')
    assert stmt.fields[0].expr == ast.VarRef("usage", "float")
    assert stmt.sources == [ast.Measurement("my db", "autogen", "cpu"),
                            ast.Measurement("db", None, "mem"),
                            ast.Measurement(None, "rp", "disk")]


def test_bound_parameters_become_literals():
    stmt = one("SELECT v FROM m WHERE host = $host AND n > $n AND ok = $ok",
               {"host": "a", "n": 2.5, "ok": True})
    values = [n for n in ast.walk(stmt.condition)
              if isinstance(n, ast.StringLiteral | ast.NumberLiteral | ast.BooleanLiteral)]
    assert values == [ast.StringLiteral("a"), ast.NumberLiteral(2.5), ast.BooleanLiteral(True)]
    with pytest.raises(InfluxQLSyntaxError, match="missing parameter: host"):
        parse("SELECT v FROM m WHERE host = $host")


@pytest.mark.parametrize("text, kind", [
    ("SHOW DATABASES", ast.ShowDatabases),
    ("SHOW RETENTION POLICIES ON db", ast.ShowRetentionPolicies),
    ("SHOW MEASUREMENTS WITH MEASUREMENT =~ /c.*/ LIMIT 2", ast.ShowMeasurements),
    ("SHOW TAG KEYS FROM cpu", ast.ShowTagKeys),
    ('SHOW TAG VALUES FROM cpu WITH KEY IN ("host", region) WHERE region != \'x\'',
     ast.ShowTagValues),
    ("SHOW FIELD KEYS ON db FROM cpu", ast.ShowFieldKeys),
])
def test_show_statements(text, kind):
    assert isinstance(one(text), kind)


def test_tag_values_key_filters():
    stmt = one('SHOW TAG VALUES WITH KEY = "host"')
    assert (stmt.key_op, stmt.keys) == ("=", ["host"])
    stmt = one("SHOW TAG VALUES WITH KEY =~ /ho.*/")
    assert (stmt.key_op, stmt.keys) == ("=~", ["ho.*"])


def test_unsupported_statements_are_named_and_others_still_parse():
    statements = parse("DELETE FROM cpu; SHOW DATABASES; SHOW CONTINUOUS QUERIES; "
                       "DROP SERIES FROM cpu")
    assert statements[0] == Unsupported("DELETE")
    assert isinstance(statements[1], ast.ShowDatabases)
    assert statements[2] == Unsupported("SHOW CONTINUOUS QUERIES")
    assert statements[3] == Unsupported("DROP SERIES")


def test_management_statements_parse():
    assert parse('CREATE DATABASE "telegraf"') == [ast.CreateDatabase("telegraf")]
    assert parse("CREATE DATABASE IF NOT EXISTS m WITH DURATION 7d REPLICATION 1 "
                 "SHARD DURATION 1d NAME week") == [
        ast.CreateDatabase("m", 7 * 86_400 * 10**9, "week", if_not_exists=True)]
    assert parse("CREATE RETENTION POLICY r ON m DURATION INF REPLICATION 1 DEFAULT") == [
        ast.CreateRetentionPolicy("r", "m", None, default=True)]
    assert parse("DROP DATABASE m; DROP MEASUREMENT cpu") == [
        ast.DropDatabase("m"), ast.DropMeasurement("cpu")]
    [cardinality] = parse("SHOW TAG VALUES EXACT CARDINALITY ON m FROM cpu WITH KEY = host")
    assert (cardinality.of, cardinality.exact, cardinality.database) == ("tag values", True, "m")


@pytest.mark.parametrize("text, message", [
    ("SELEC x", "found SELEC, expected SELECT"),
    ("SELECT x FROM cpu LIMIT x", "found x, expected integer at"),
    ("SELECT x FROM cpu WHERE", "found EOF"),
    ("SELECT x INTO :y FROM cpu", "found y, expected MEASUREMENT"),
    ("SELECT x FROM (SELECT y FROM z", "found EOF, expected \\)"),
    ("SHOW TAG KEYS FROM (SELECT y FROM z)", "expected measurement"),
    ("SELECT x FROM cpu ORDER BY host", "only ORDER BY time"),
    ("SELECT x FROM cpu WHERE host = 'a", "unterminated quoted string"),
    ("", "expected SELECT, SHOW"),
])
def test_syntax_errors_say_where(text, message):
    with pytest.raises(InfluxQLSyntaxError, match=message) as info:
        parse(text)
    assert "at line 1, char" in str(info.value)


def test_subqueries_nest():
    [stmt] = parse("SELECT max(m) FROM (SELECT mean(m) AS m FROM (SELECT x AS m FROM cpu) "
                   "GROUP BY time(1m)), mem WHERE time > 0")
    inner, mem = stmt.sources
    assert isinstance(inner, ast.Subquery) and mem == ast.Measurement(name="mem")
    [innermost] = inner.statement.sources
    assert isinstance(innermost, ast.Subquery)
    assert innermost.statement.sources == [ast.Measurement(name="cpu")]
