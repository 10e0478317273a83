"""A recursive-descent parser for the InfluxQL statements timewell answers.

`parse(text, params)` returns one statement per `;`-separated statement. Statements InfluxQL
has but timewell does not answer (DROP, CREATE, SHOW SERIES, ...) parse to `Unsupported`, so
the others in the same request still run; their execution reports the statement by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from timewell.query.influxql import ast, zone
from timewell.query.influxql.lexer import Kind, Lexer, Token, duration_ns

_STATEMENT_STARTS = ("SELECT", "DELETE", "SHOW", "CREATE", "DROP", "EXPLAIN", "GRANT",
                     "REVOKE", "ALTER", "SET", "KILL")
_STATEMENT_WORDS = {
    "ALL", "CARDINALITY", "CONTINUOUS", "DATABASE", "DATABASES", "DIAGNOSTICS", "EXACT",
    "FIELD", "GRANTS", "GROUPS", "KEY", "KEYS", "MEASUREMENT", "MEASUREMENTS", "PASSWORD",
    "POLICIES", "POLICY", "PRIVILEGES", "QUERIES", "QUERY", "RETENTION", "SERIES", "SHARD",
    "SHARDS", "STATS", "SUBSCRIPTION", "SUBSCRIPTIONS", "TAG", "USER", "USERS", "VALUES",
}
_SHOW_SUPPORTED = ("DATABASES", "MEASUREMENTS", "TAG", "FIELD", "RETENTION", "SERIES",
                   "MEASUREMENT", "USERS", "DIAGNOSTICS", "STATS")
_FILL_KINDS = ("NULL", "NONE", "PREVIOUS", "LINEAR")
# Binary operator precedence, lowest first (as InfluxQL's Go parser has it).
_PRECEDENCE = {
    "OR": 1, "AND": 2,
    "=": 4, "!=": 4, "<>": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "=~": 4, "!~": 4,
    "+": 5, "-": 5, "|": 5, "^": 5,
    "*": 6, "/": 6, "%": 6, "&": 6,
}


@dataclass
class Unsupported:
    """A statement InfluxQL has and timewell does not answer, named as written (`DROP SERIES`)."""

    name: str


def parse(text: str, params: dict | None = None) -> list[ast.Statement | Unsupported]:
    """Every statement in `text`; InfluxQLSyntaxError for invalid text."""
    return Parser(text, params or {}).statements()


class Parser:
    def __init__(self, text: str, params: dict) -> None:
        self._lexer = Lexer(text)
        self._params = params
        self._tok = self._lexer.next()

    # -- token plumbing

    def _advance(self) -> Token:
        tok = self._tok
        self._tok = self._lexer.next()
        return tok

    def _error(self, expected: str, tok: Token | None = None):
        tok = tok or self._tok
        return self._lexer.error(f"found {tok.describe()}, expected {expected}", tok.pos)

    def _expect_keyword(self, *words: str) -> Token:
        if not self._tok.is_keyword(*words):
            raise self._error(", ".join(words))
        return self._advance()

    def _expect_op(self, op: str) -> Token:
        if not self._tok.is_op(op):
            raise self._error(op)
        return self._advance()

    def _accept_keyword(self, *words: str) -> bool:
        if self._tok.is_keyword(*words):
            self._advance()
            return True
        return False

    def _accept_op(self, op: str) -> bool:
        if self._tok.is_op(op):
            self._advance()
            return True
        return False

    def _regex(self) -> str:
        """A `/regex/` where the current token is its opening `/`."""
        if not self._tok.is_op("/"):
            raise self._error("regex")
        token = self._lexer.regex_at(self._tok.pos)
        self._tok = self._lexer.next()
        return token.text

    def _ident(self, what: str = "identifier", reserved_ok: bool = False) -> str:
        """A name; a reserved word only double-quoted (or where `reserved_ok`: `::field`)."""
        tok = self._tok
        if tok.reserved and not reserved_ok:
            raise self._error("identifier")  # 1.x's words
        if tok.kind is not Kind.IDENT:
            raise self._error(what)
        self._advance()
        return tok.text

    def _integer(self, what: str) -> int:
        if self._tok.kind is not Kind.INTEGER:
            raise self._error(what)
        return int(self._advance().text)

    # -- statements

    def statements(self) -> list[ast.Statement | Unsupported]:
        result: list[ast.Statement | Unsupported] = []
        while True:
            while self._accept_op(";"):
                pass
            if self._tok.kind is Kind.EOF:
                break
            result.append(self._statement())
            if self._tok.kind is not Kind.EOF and not self._tok.is_op(";"):
                raise self._error(";")
        if not result:
            raise self._error("SELECT, SHOW")
        return result

    def _statement(self) -> ast.Statement | Unsupported:
        tok = self._tok
        if tok.is_keyword("SELECT"):
            self._advance()
            return self._select()
        if tok.is_keyword("SHOW"):
            self._advance()
            if self._tok.is_keyword(*_SHOW_SUPPORTED):
                return self._show()
            return self._unsupported("SHOW")
        if tok.is_keyword("CREATE"):
            self._advance()
            if self._tok.is_keyword("DATABASE"):
                self._advance()
                return self._create_database()
            if self._tok.is_keyword("RETENTION"):
                self._advance()
                self._expect_keyword("POLICY")
                return self._create_retention_policy()
            return self._unsupported("CREATE")
        if tok.is_keyword("DROP"):
            self._advance()
            if self._accept_keyword("DATABASE"):
                return ast.DropDatabase(self._ident("database name"))
            if self._accept_keyword("MEASUREMENT"):
                return ast.DropMeasurement(self._ident("measurement name"))
            return self._unsupported("DROP")
        if tok.is_keyword(*_STATEMENT_STARTS):
            return self._unsupported(self._advance().text.upper())
        raise self._error(", ".join(_STATEMENT_STARTS))

    def _unsupported(self, first: str) -> Unsupported:
        """Skip to the end of the statement; name it by its leading keywords."""
        words = [first]
        while (self._tok.kind is Kind.IDENT and not self._tok.quoted and len(words) < 4
               and self._tok.text.upper() in _STATEMENT_WORDS):
            words.append(self._advance().text.upper())
        while self._tok.kind is not Kind.EOF and not self._tok.is_op(";"):
            if self._tok.is_op("/"):
                self._regex()
            else:
                self._advance()
        return Unsupported(" ".join(words))

    # -- SELECT

    def _select(self) -> ast.SelectStatement:
        fields = [self._field()]
        while self._accept_op(","):
            fields.append(self._field())
        into = self._into() if self._accept_keyword("INTO") else None
        self._expect_keyword("FROM")
        stmt = ast.SelectStatement(fields=fields, sources=self._select_sources(), into=into)
        if self._accept_keyword("WHERE"):
            stmt.condition = self._expr()
        if self._accept_keyword("GROUP"):
            self._expect_keyword("BY")
            self._dimensions(stmt)
        if self._tok.is_keyword("FILL"):
            stmt.fill = self._fill()
        if self._accept_keyword("ORDER"):
            self._expect_keyword("BY")
            self._order_by(stmt)
        for word in ("LIMIT", "OFFSET", "SLIMIT", "SOFFSET"):
            if self._accept_keyword(word):
                setattr(stmt, word.lower(), self._integer("integer"))
        if self._tok.is_keyword("TZ") and self._peek_call():
            stmt.location = self._tz()
        return stmt

    def _tz(self) -> str:
        self._advance()
        self._expect_op("(")
        if self._tok.kind is not Kind.STRING:
            raise self._error("string")
        name = self._advance().text
        self._expect_op(")")
        try:
            zone.load(name)
        except zone.UnknownZone as e:
            raise self._lexer.error(str(e), None) from None
        return name

    def _field(self) -> ast.Field:
        expr = self._expr()
        alias = None
        if self._accept_keyword("AS"):
            alias = self._ident("alias")
        return ast.Field(expr, alias)

    def _into(self) -> ast.Measurement:
        """INTO's target: `m`, `rp.m`, `db.rp.m`, `db..m`, each with `:MEASUREMENT` as the
        name meaning the source measurement's."""
        parts, to_source = self._dotted("measurement", self._source_name_marker)
        if to_source:
            parts.append(None)
        if len(parts) > 3:
            raise self._error("FROM")
        name = parts[-1]
        rp = parts[-2] if len(parts) >= 2 else None
        database = parts[-3] if len(parts) == 3 else None
        return ast.Measurement(database, rp, name)

    def _dotted(self, what: str, last: Callable[[], object]) -> tuple[list[str | None], object]:
        """Dot-separated name parts (None for an empty one: `db..m`), and what `last()` read
        in place of the final identifier (`/regex/`, `:MEASUREMENT`; None when nothing)."""
        parts: list[str | None] = []
        while True:
            special = last()
            if special is not None:
                return parts, special
            if self._tok.is_op("."):
                parts.append(None)
            else:
                parts.append(self._ident(what))
                if not self._tok.is_op("."):
                    return parts, None
            self._advance()

    def _source_name_marker(self) -> bool | None:
        """INTO's `:MEASUREMENT` (the source measurement's name), if it comes next."""
        if not self._accept_op(":"):
            return None
        if not self._tok.is_keyword("MEASUREMENT"):
            raise self._error("MEASUREMENT")
        self._advance()
        return True

    def _select_sources(self) -> list[ast.Measurement | ast.Subquery]:
        sources = [self._source()]
        while self._accept_op(","):
            sources.append(self._source())
        return sources

    def _sources(self) -> list[ast.Measurement]:
        sources = []
        for source in self._select_sources():
            if isinstance(source, ast.Subquery):
                raise self._error("measurement")
            sources.append(source)
        return sources

    def _source(self) -> ast.Measurement | ast.Subquery:
        if self._accept_op("("):
            self._expect_keyword("SELECT")
            inner = self._select()
            self._expect_op(")")
            return ast.Subquery(inner)
        if self._tok.is_op("/"):
            return ast.Measurement(regex=self._regex())
        # db.rp.measurement, db..measurement, rp.measurement, measurement; the last part may
        # be a regex.
        parts, regex = self._dotted(
            "measurement", lambda: self._regex() if self._tok.is_op("/") else None)
        if regex is not None:
            parts.append(None)
        if len(parts) > 3:
            raise self._error("at most database.retention_policy.measurement")
        parts = [None] * (3 - len(parts)) + parts
        database, rp, name = parts
        return ast.Measurement(database, rp, None if regex is not None else name, regex)

    def _dimensions(self, stmt: ast.SelectStatement) -> None:
        while True:
            tok = self._tok
            if tok.is_keyword("TIME") and self._peek_call():
                if stmt.group_by_time is not None:
                    raise self._lexer.error("multiple time dimensions", tok.pos)
                stmt.group_by_time = self._group_by_time()
            elif tok.is_op("*"):
                self._advance()
                stmt.group_by_all_tags = True
            elif tok.is_op("/"):
                stmt.group_by_tag_regexes.append(self._regex())
            elif tok.reserved:  # 1.x reads a dimension as an expression
                raise self._error("identifier, string, number, bool")
            else:
                name = self._ident("tag key, time(), * or regex")
                if self._accept_op("::"):
                    self._ident("type", reserved_ok=True)
                stmt.group_by_tags.append(name)
            if not self._accept_op(","):
                return

    def _peek_call(self) -> bool:
        saved = (self._lexer.pos, self._tok)
        self._advance()
        is_call = self._tok.is_op("(")
        self._lexer.pos, self._tok = saved
        return is_call

    def _group_by_time(self) -> ast.GroupByTime:
        self._advance()
        self._expect_op("(")
        interval = self._duration("interval duration")
        if interval <= 0:
            raise self._error("a positive interval")
        offset = 0
        if self._accept_op(","):
            expr = self._expr()
            self._expect_op(")")
            if isinstance(expr, ast.DurationLiteral):
                offset = expr.ns
            elif isinstance(expr, ast.Call) and expr.name == "now" and not expr.args:
                return ast.GroupByTime(interval, now=True)
            elif isinstance(expr, ast.StringLiteral):
                return ast.GroupByTime(interval, invalid="invalid time dimension offset: "
                                       f"'{expr.value}'")
            else:
                return ast.GroupByTime(interval, invalid="time dimension offset must be "
                                       "duration or now()")
            return ast.GroupByTime(interval, offset % interval)
        self._expect_op(")")
        return ast.GroupByTime(interval, offset % interval)

    def _duration(self, what: str) -> int:
        tok = self._tok
        if tok.kind is not Kind.DURATION:
            raise self._error(what)
        self._advance()
        return duration_ns(tok.text)

    def _fill(self) -> ast.Fill:
        self._advance()
        self._expect_op("(")
        tok = self._tok
        if tok.is_keyword(*_FILL_KINDS):
            self._advance()
            fill = ast.Fill(tok.text.lower())
        else:
            negative = self._accept_op("-")
            tok = self._tok
            if tok.kind is Kind.INTEGER:
                value: float | int = int(tok.text)
            elif tok.kind is Kind.NUMBER:
                value = float(tok.text)
            else:
                raise self._error("null, none, previous, linear or a number")
            self._advance()
            fill = ast.Fill("value", -value if negative else value)
        self._expect_op(")")
        return fill

    def _order_by(self, stmt: ast.SelectStatement) -> None:
        name_tok = self._tok
        name = self._ident("time")
        if name.lower() != "time":
            raise self._lexer.error("only ORDER BY time is supported", name_tok.pos)
        if self._accept_keyword("DESC"):
            stmt.descending = True
        else:
            self._accept_keyword("ASC")

    # -- SHOW

    def _create_database(self) -> ast.CreateDatabase:
        if_not_exists = False
        if self._accept_keyword("IF"):
            self._expect_keyword("NOT")
            self._expect_keyword("EXISTS")
            if_not_exists = True
        stmt = ast.CreateDatabase(self._ident("database name"), if_not_exists=if_not_exists)
        if self._accept_keyword("WITH"):
            while True:
                if self._accept_keyword("DURATION"):
                    stmt.duration_ns = self._policy_duration()
                elif self._accept_keyword("REPLICATION"):
                    self._integer("integer")
                elif self._accept_keyword("SHARD"):
                    self._expect_keyword("DURATION")
                    self._duration("duration")
                elif self._accept_keyword("NAME"):
                    stmt.policy = self._ident("retention policy name")
                else:
                    break
        return stmt

    def _create_retention_policy(self) -> ast.CreateRetentionPolicy:
        name = self._ident("retention policy name")
        self._expect_keyword("ON")
        database = self._ident("database name")
        self._expect_keyword("DURATION")
        stmt = ast.CreateRetentionPolicy(name, database, self._policy_duration())
        self._expect_keyword("REPLICATION")
        self._integer("integer")
        while True:
            if self._accept_keyword("SHARD"):
                self._expect_keyword("DURATION")
                self._duration("duration")
            elif self._accept_keyword("DEFAULT"):
                stmt.default = True
            else:
                return stmt

    def _for_module(self) -> str | None:
        """SHOW DIAGNOSTICS / STATS `FOR 'module'`."""
        if not self._accept_keyword("FOR"):
            return None
        if self._tok.kind is not Kind.STRING:
            raise self._error("string")
        return self._advance().text

    def _policy_duration(self) -> int | None:
        """A retention policy's DURATION: a duration, or INF (keep forever)."""
        if self._tok.kind is Kind.IDENT and self._tok.text.upper() == "INF":
            self._advance()
            return None
        return self._duration("duration") or None

    def _show(self) -> ast.Statement:
        if self._accept_keyword("DATABASES"):
            return ast.ShowDatabases()
        if self._accept_keyword("USERS"):
            return ast.ShowUsers()
        if self._accept_keyword("DIAGNOSTICS"):
            return ast.ShowDiagnostics(self._for_module())
        if self._accept_keyword("STATS"):
            return ast.ShowStats(self._for_module())
        if self._accept_keyword("SERIES"):
            if self._tok.is_keyword("EXACT", "CARDINALITY"):
                return self._cardinality("series")
            series = ast.ShowSeries(self._on())
            series.sources = self._from()
            series.condition = self._where()
            series.limit, series.offset = self._limit_offset()
            return series
        if self._accept_keyword("MEASUREMENT"):
            return self._cardinality("measurement")
        if self._accept_keyword("RETENTION"):
            self._expect_keyword("POLICIES")
            return ast.ShowRetentionPolicies(self._on())
        if self._accept_keyword("MEASUREMENTS"):
            return self._show_measurements()
        if self._accept_keyword("FIELD"):
            self._expect_keyword("KEYS")
            stmt = ast.ShowFieldKeys(self._on())
            stmt.sources = self._from()
            stmt.limit, stmt.offset = self._limit_offset()
            return stmt
        self._expect_keyword("TAG")
        if self._accept_keyword("KEYS"):
            stmt = ast.ShowTagKeys(self._on())
            stmt.sources = self._from()
            stmt.condition = self._where()
            stmt.limit, stmt.offset = self._limit_offset()
            return stmt
        self._expect_keyword("VALUES")
        if self._tok.is_keyword("EXACT", "CARDINALITY"):
            return self._cardinality("tag values")
        values = ast.ShowTagValues(self._on())
        values.sources = self._from()
        self._expect_keyword("WITH")
        self._expect_keyword("KEY")
        self._tag_key_filter(values)
        values.condition = self._where()
        values.limit, values.offset = self._limit_offset()
        return values

    def _cardinality(self, of: str) -> ast.ShowCardinality:
        exact = self._accept_keyword("EXACT")
        self._expect_keyword("CARDINALITY")
        stmt = ast.ShowCardinality(of, exact, self._on())
        stmt.sources = self._from()
        if of == "tag values":
            keys = ast.ShowTagValues()
            self._expect_keyword("WITH")
            self._expect_keyword("KEY")
            self._tag_key_filter(keys)
            stmt.keys = keys
        return stmt

    def _on(self) -> str | None:
        return self._ident("database name") if self._accept_keyword("ON") else None

    def _from(self) -> list[ast.Measurement]:
        return self._sources() if self._accept_keyword("FROM") else []

    def _where(self) -> ast.Expr | None:
        return self._expr() if self._accept_keyword("WHERE") else None

    def _limit_offset(self) -> tuple[int, int]:
        limit = self._integer("integer") if self._accept_keyword("LIMIT") else 0
        offset = self._integer("integer") if self._accept_keyword("OFFSET") else 0
        return limit, offset

    def _show_measurements(self) -> ast.ShowMeasurements:
        stmt = ast.ShowMeasurements(self._on())
        if self._accept_keyword("WITH"):
            self._expect_keyword("MEASUREMENT")
            op_tok = self._tok
            if not op_tok.is_op("=", "!=", "<>", "=~", "!~"):
                raise self._error("=, !=, =~ or !~")
            self._advance()
            stmt.name_op = "!=" if op_tok.text == "<>" else op_tok.text
            stmt.name = self._regex() if stmt.name_op in ("=~", "!~") else self._ident()
        stmt.condition = self._where()
        stmt.limit, stmt.offset = self._limit_offset()
        return stmt

    def _tag_key_filter(self, stmt: ast.ShowTagValues) -> None:
        if self._accept_keyword("IN"):
            self._expect_op("(")
            stmt.key_op = "IN"
            stmt.keys = [self._ident("tag key")]
            while self._accept_op(","):
                stmt.keys.append(self._ident("tag key"))
            self._expect_op(")")
            return
        tok = self._tok
        if not tok.is_op("=", "!=", "<>", "=~", "!~"):
            raise self._error("=, !=, =~, !~ or IN")
        self._advance()
        stmt.key_op = "!=" if tok.text == "<>" else tok.text
        stmt.keys = [self._regex() if stmt.key_op in ("=~", "!~") else self._ident("tag key")]

    # -- expressions

    def _expr(self, min_precedence: int = 1) -> ast.Expr:
        lhs = self._unary()
        while True:
            op = self._binary_op()
            if op is None or _PRECEDENCE[op] < min_precedence:
                return lhs
            self._advance()
            if op in ("=~", "!~"):
                rhs: ast.Expr = (ast.RegexLiteral(self._regex()) if self._tok.is_op("/")
                                 else self._unary())
            else:
                rhs = self._expr(_PRECEDENCE[op] + 1)
            lhs = ast.BinaryExpr("!=" if op == "<>" else op, lhs, rhs)

    def _binary_op(self) -> str | None:
        tok = self._tok
        if tok.is_keyword("AND", "OR"):
            return tok.text.upper()
        if tok.kind is Kind.OP and tok.text in _PRECEDENCE:
            return tok.text
        return None

    def _unary(self) -> ast.Expr:
        if self._tok.is_op("-") or self._tok.is_op("+"):
            sign = self._advance().text
            operand = self._unary()
            if sign == "+":
                return operand
            if isinstance(operand, ast.IntegerLiteral):
                return ast.IntegerLiteral(-operand.value)
            if isinstance(operand, ast.NumberLiteral):
                return ast.NumberLiteral(-operand.value)
            if isinstance(operand, ast.DurationLiteral):
                return ast.DurationLiteral(-operand.ns, "-" + operand.text)
            return ast.BinaryExpr("*", ast.IntegerLiteral(-1), operand)
        return self._primary()

    def _primary(self) -> ast.Expr:
        tok = self._tok
        if tok.is_op("("):
            self._advance()
            expr = self._expr()
            self._expect_op(")")
            return ast.Paren(expr)
        if tok.is_op("/"):
            return ast.RegexLiteral(self._regex())
        if tok.is_op("*"):
            self._advance()
            return ast.Wildcard(self._type_suffix())
        if tok.kind is Kind.STRING:
            self._advance()
            return ast.StringLiteral(tok.text)
        if tok.kind is Kind.INTEGER:
            self._advance()
            return ast.IntegerLiteral(int(tok.text))
        if tok.kind is Kind.NUMBER:
            self._advance()
            return ast.NumberLiteral(float(tok.text))
        if tok.kind is Kind.DURATION:
            self._advance()
            return ast.DurationLiteral(duration_ns(tok.text), tok.text)
        if tok.kind is Kind.PARAM:
            self._advance()
            return self._bound(tok)
        if tok.kind is Kind.IDENT and not (tok.reserved and not self._peek_call()):
            self._advance()
            if not tok.quoted and tok.text.upper() in ("TRUE", "FALSE"):
                return ast.BooleanLiteral(tok.text.upper() == "TRUE")
            if not tok.quoted and self._tok.is_op("("):
                return self._call(tok.text.lower())
            return ast.VarRef(tok.text, self._type_suffix())
        raise self._error("identifier, string, number, bool")

    def _type_suffix(self) -> str | None:
        if not self._accept_op("::"):
            return None
        tok = self._tok
        kind = self._ident("type", reserved_ok=True).lower()
        if kind not in ("tag", "field", "float", "integer", "unsigned", "string", "boolean"):
            raise self._error("tag, field, float, integer, unsigned, string or boolean", tok)
        return kind

    def _call(self, name: str) -> ast.Call:
        self._expect_op("(")
        args: list[ast.Expr] = []
        if not self._tok.is_op(")"):
            args.append(self._expr())
            while self._accept_op(","):
                args.append(self._expr())
        self._expect_op(")")
        return ast.Call(name, tuple(args))

    def _bound(self, tok: Token) -> ast.Expr:
        if tok.text not in self._params:
            raise self._lexer.error(f"missing parameter: {tok.text}", tok.pos)
        value = self._params[tok.text]
        if isinstance(value, bool):
            return ast.BooleanLiteral(value)
        if isinstance(value, int):
            return ast.IntegerLiteral(value)
        if isinstance(value, float):
            return ast.NumberLiteral(value)
        if isinstance(value, str):
            return ast.StringLiteral(value)
        raise self._lexer.error(f"parameter {tok.text} must be a string, number or boolean",
                                tok.pos)
