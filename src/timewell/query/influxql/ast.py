"""The InfluxQL syntax tree: expressions and the statements timewell answers."""

from __future__ import annotations

from dataclasses import dataclass, field

# -- expressions


@dataclass(frozen=True)
class VarRef:
    name: str
    type: str | None = None  # from `name::type`: tag, field, float, integer, string, boolean


@dataclass(frozen=True)
class Wildcard:
    type: str | None = None  # `*::field` / `*::tag`


@dataclass(frozen=True)
class RegexLiteral:
    pattern: str


@dataclass(frozen=True)
class StringLiteral:
    value: str


@dataclass(frozen=True)
class NumberLiteral:
    value: float


@dataclass(frozen=True)
class IntegerLiteral:
    value: int


@dataclass(frozen=True)
class BooleanLiteral:
    value: bool


@dataclass(frozen=True)
class DurationLiteral:
    ns: int
    text: str


@dataclass(frozen=True)
class Call:
    name: str  # lower case
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class BinaryExpr:
    op: str  # + - * / % & | ^ = != < <= > >= =~ !~ AND OR
    lhs: Expr
    rhs: Expr


@dataclass(frozen=True)
class Paren:
    expr: Expr


Expr = (VarRef | Wildcard | RegexLiteral | StringLiteral | NumberLiteral | IntegerLiteral
        | BooleanLiteral | DurationLiteral | Call | BinaryExpr | Paren)

# -- clauses


@dataclass(frozen=True)
class Field:
    expr: Expr
    alias: str | None = None


@dataclass(frozen=True)
class Measurement:
    database: str | None = None
    retention_policy: str | None = None
    name: str | None = None
    regex: str | None = None


@dataclass
class Subquery:
    """`FROM (SELECT ...)`: the inner statement's result as the outer statement's source."""

    statement: SelectStatement


@dataclass(frozen=True)
class GroupByTime:
    interval_ns: int
    offset_ns: int = 0
    now: bool = False  # time(i, now()): the offset is the query's now() modulo i
    invalid: str | None = None  # an offset 1.x parses but refuses when it runs: why


@dataclass(frozen=True)
class Fill:
    kind: str = "null"  # null | none | previous | linear | value
    value: float | int | None = None


# -- statements


@dataclass
class SelectStatement:
    fields: list[Field]
    sources: list[Measurement | Subquery]
    condition: Expr | None = None
    group_by_time: GroupByTime | None = None
    group_by_tags: list[str] = field(default_factory=list)
    group_by_all_tags: bool = False  # GROUP BY *
    group_by_tag_regexes: list[str] = field(default_factory=list)
    fill: Fill = field(default_factory=Fill)
    descending: bool = False
    limit: int = 0
    offset: int = 0
    slimit: int = 0
    soffset: int = 0
    # SELECT ... INTO: where the result is written (name None: `:MEASUREMENT`, the source's)
    into: Measurement | None = None
    location: str | None = None  # tz('Europe/Paris')


@dataclass
class ShowDatabases:
    pass


@dataclass
class ShowRetentionPolicies:
    database: str | None = None


@dataclass
class ShowMeasurements:
    database: str | None = None
    name_op: str | None = None  # =, !=, =~, !~ from WITH MEASUREMENT
    name: str | None = None  # literal name or regex pattern
    condition: Expr | None = None
    limit: int = 0
    offset: int = 0


@dataclass
class ShowTagKeys:
    database: str | None = None
    sources: list[Measurement] = field(default_factory=list)
    condition: Expr | None = None
    limit: int = 0
    offset: int = 0


@dataclass
class ShowTagValues:
    database: str | None = None
    sources: list[Measurement] = field(default_factory=list)
    key_op: str = "="  # =, !=, =~, !~, IN
    keys: list[str] = field(default_factory=list)  # names, or one pattern for =~ / !~
    condition: Expr | None = None
    limit: int = 0
    offset: int = 0


@dataclass
class ShowFieldKeys:
    database: str | None = None
    sources: list[Measurement] = field(default_factory=list)
    limit: int = 0
    offset: int = 0


@dataclass
class ShowSeries:
    database: str | None = None
    sources: list[Measurement] = field(default_factory=list)
    condition: Expr | None = None
    limit: int = 0
    offset: int = 0


@dataclass
class ShowCardinality:
    """SHOW SERIES / MEASUREMENT / TAG VALUES [EXACT] CARDINALITY (answered exactly)."""

    of: str  # series, measurement, tag values
    exact: bool
    database: str | None = None
    sources: list[Measurement] = field(default_factory=list)
    keys: ShowTagValues | None = None  # TAG VALUES: which keys


@dataclass
class ShowUsers:
    pass


@dataclass
class ShowDiagnostics:
    module: str | None = None  # FOR 'module'


@dataclass
class ShowStats:
    module: str | None = None  # FOR 'module'


# -- statements that change things (v1 management)


@dataclass
class CreateDatabase:
    name: str
    duration_ns: int | None = None  # WITH DURATION; None: keep data forever
    policy: str | None = None  # WITH NAME: the default retention policy's name
    if_not_exists: bool = False


@dataclass
class DropDatabase:
    name: str


@dataclass
class DropMeasurement:
    name: str


@dataclass
class CreateRetentionPolicy:
    name: str
    database: str
    duration_ns: int | None  # None: INF
    default: bool = False


Statement = (SelectStatement | ShowDatabases | ShowRetentionPolicies | ShowMeasurements
             | ShowTagKeys | ShowTagValues | ShowFieldKeys | ShowSeries | ShowCardinality
             | ShowUsers | ShowDiagnostics | ShowStats | CreateDatabase | DropDatabase
             | DropMeasurement | CreateRetentionPolicy)


def walk(expr: Expr):
    """Every node of `expr`, depth first."""
    yield expr
    if isinstance(expr, BinaryExpr):
        yield from walk(expr.lhs)
        yield from walk(expr.rhs)
    elif isinstance(expr, Paren):
        yield from walk(expr.expr)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from walk(arg)
