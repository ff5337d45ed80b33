"""SQLite's SQL as the features write it, translated for PostgreSQL: the only place that knows both dialects.

Features and migrations are written once, for SQLite. `Dialect.translate` rewrites a statement token by token
(string literals, quoted names and comments are never touched) so PostgreSQL runs it with the same meaning:

- `?` placeholders become `$1, $2, …`;
- `INSERT OR IGNORE` becomes `INSERT … ON CONFLICT DO NOTHING`;
- `strftime('<format>', 'now')` and `datetime('now')` become the same UTC text through `to_char`;
- `INTEGER PRIMARY KEY [AUTOINCREMENT]` becomes a BIGINT identity, `INTEGER` BIGINT (SQLite's integers are 64-bit),
  `REAL` DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes: a Unix time would lose minutes), `BLOB` BYTEA;
- `LIKE` becomes `ILIKE` (SQLite's LIKE ignores case), `ifnull` `coalesce`, `instr` `strpos`, two-argument
  `min`/`max` `least`/`greatest`, `rowid` `ctid` (insertion order, as a tie-breaker);
- bare column names inside `ON CONFLICT … DO UPDATE` are qualified with the table (PostgreSQL calls them ambiguous);
- an INSERT into a table with an identity column gets `RETURNING <column>`, which gives the cursor its `lastrowid`.

What has no faithful translation (`INSERT OR REPLACE`, `PRAGMA`, `GLOB`) raises DialectError, so a test on PostgreSQL
names the statement to make portable instead of it doing something else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_TOKEN = re.compile(r"""
    (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<space>\s+)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<param>\?\d*)
  | (?P<op>\|\||<=|>=|<>|!=|==|::|.)
""", re.VERBOSE | re.DOTALL)

_TYPES = {"integer": "BIGINT", "int": "BIGINT", "real": "DOUBLE PRECISION", "blob": "BYTEA"}
_FUNCTIONS = {"ifnull": "coalesce", "instr": "strpos"}
_STRFTIME = {"Y": "YYYY", "m": "MM", "d": "DD", "H": "HH24", "M": "MI", "S": "SS", "f": "SS.MS", "j": "DDD"}
_AFTER_DERIVED = {"", ")", ",", ";", "where", "group", "order", "limit", "offset", "having", "union", "except",
                  "intersect", "join", "inner", "left", "right", "full", "cross", "natural", "on", "using", "window"}
_ROWS_FIRST_WORDS = {"select", "with", "values", "show", "table"}


class DialectError(ValueError):
    """A statement that PostgreSQL cannot run with the same meaning; the message names it."""


@dataclass(frozen=True)
class Translated:
    sql: str
    params: int  # how many placeholders
    returns_rows: bool  # run it with fetch (SELECT, or RETURNING)
    id_column: str | None = None  # RETURNING added by the translation: the first value is the new row's id


@dataclass(frozen=True)
class Schema:
    """What the translation needs to know of the tables: their columns and identity (auto-numbered) columns."""

    columns: Mapping[str, frozenset[str]] = field(default_factory=dict)
    identity: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Tok:
    kind: str
    text: str

    @property
    def low(self) -> str:
        return self.text.lower()


def _tokens(sql: str) -> list[_Tok]:
    return [_Tok(m.lastgroup or "op", m.group()) for m in _TOKEN.finditer(sql)]


class Dialect:
    """Translates statements for one schema, remembering each translation (features reuse a few dozen)."""

    def __init__(self, schema: Schema | None = None) -> None:
        self.schema = schema or Schema()
        self._cache: dict[str, Translated] = {}

    def translate(self, sql: str) -> Translated:
        done = self._cache.get(sql)
        if done is None:
            done = self._cache[sql] = translate(sql, self.schema)
        return done


def _code(toks: list[_Tok]) -> list[int]:
    """Indexes of the tokens that are code (not space or comments)."""
    return [i for i, t in enumerate(toks) if t.kind not in ("space", "comment")]


def _strftime(fmt: str) -> str:
    out, i, literal = [], 0, []
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            if spec == "%":
                literal.append("%")
            elif spec in _STRFTIME:
                if literal:
                    out.append('"' + "".join(literal) + '"')
                    literal = []
                out.append(_STRFTIME[spec])
            else:
                raise DialectError(f"strftime format %{spec} has no PostgreSQL translation")
            i += 2
        else:
            literal.append(fmt[i])
            i += 1
    if literal:
        out.append('"' + "".join(literal) + '"')
    return "".join(out).replace("'", "''")


def _now(fmt: str) -> list[_Tok]:
    return [_Tok("word", f"to_char(now() AT TIME ZONE 'utc', '{_strftime(fmt)}')")]


def _call_args(toks: list[_Tok], open_at: int) -> tuple[int, list[list[int]]]:
    """For the `(` at `open_at`: the index of its `)` and the code-token indexes of each top-level argument."""
    depth = 0
    args: list[list[int]] = []
    current: list[int] = []
    for i in range(open_at, len(toks)):
        t = toks[i]
        if t.kind in ("space", "comment"):
            continue
        if t.text == "(":
            depth += 1
            if depth == 1:
                continue
        elif t.text == ")":
            depth -= 1
            if depth == 0:
                args.append(current)
                return i, args
        elif t.text == "," and depth == 1:
            args.append(current)
            current = []
            continue
        current.append(i)
    raise DialectError("unbalanced parentheses")


def _rewrite_calls(toks: list[_Tok]) -> list[_Tok]:
    """strftime/datetime of 'now', and the functions that only differ in name or arity."""
    out: list[_Tok] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = next((j for j in range(i + 1, len(toks)) if toks[j].kind not in ("space", "comment")), None)
        if t.kind == "word" and nxt is not None and toks[nxt].text == "(":
            name = t.low
            if name in ("strftime", "datetime"):
                close, args = _call_args(toks, nxt)
                values = [[toks[k] for k in a] for a in args]
                strings = [v[0].text[1:-1].replace("''", "'") if len(v) == 1 and v[0].kind == "string" else None
                           for v in values]
                if name == "strftime" and len(strings) == 2 and strings[0] is not None and strings[1] == "now":
                    out += _now(strings[0])
                elif name == "datetime" and strings == ["now"]:
                    out += _now("%Y-%m-%d %H:%M:%S")
                else:
                    raise DialectError(f"{name}(...) is translated only for 'now'")
                i = close + 1
                continue
            if name in ("min", "max"):
                _, args = _call_args(toks, nxt)
                if len(args) > 1:
                    out.append(_Tok("word", "greatest" if name == "max" else "least"))
                    i += 1
                    continue
            if name in _FUNCTIONS:
                out.append(_Tok("word", _FUNCTIONS[name]))
                i += 1
                continue
        out.append(t)
        i += 1
    return out


def translate(sql: str, schema: Schema | None = None) -> Translated:
    """One SQLite statement as PostgreSQL runs it (see the module's docstring)."""
    schema = schema or Schema()
    toks = _rewrite_calls(_tokens(sql))
    code = _code(toks)
    if not code:
        return Translated(sql, 0, False)
    first = toks[code[0]].low
    if first in ("pragma", "attach", "detach", "vacuum", "reindex"):
        raise DialectError(f"{first.upper()} is SQLite's own; PostgreSQL has no such statement")
    words = [toks[i].low for i in code]
    ignore = False
    table: str | None = None
    if first == "insert":
        if len(words) > 2 and words[1] == "or":
            if words[2] != "ignore":
                raise DialectError(f"INSERT OR {words[2].upper()} has no faithful PostgreSQL translation; "
                                   "write INSERT … ON CONFLICT (…) DO UPDATE")
            ignore = "conflict" not in words
            for k in code[1:3]:
                toks[k] = _Tok("space", "")
        into = words.index("into") if "into" in words else -1
        if 0 <= into < len(words) - 1:
            table = toks[code[into + 1]].text.strip('"').lower()

    params = 0
    conflict_update = False
    opened: list[bool] = []  # per open parenthesis: is it a subquery in FROM / JOIN
    derived = 0
    for pos, i in enumerate(code):
        t = toks[i]
        prev = words[pos - 1] if pos else ""
        nxt = words[pos + 1] if pos + 1 < len(words) else ""
        if t.kind == "param":
            if len(t.text) > 1:
                raise DialectError("numbered ?NNN placeholders are not translated; use plain ?")
            params += 1
            t.text = f"${params}"
        elif t.text == "(":
            opened.append(prev in ("from", "join") and nxt in ("select", "with", "values"))
        elif t.text == ")" and opened and opened.pop() and nxt in _AFTER_DERIVED:
            derived += 1  # PostgreSQL before 16 requires a name for a subquery in FROM; SQLite doesn't
            t.text = f") AS derived_{derived}"
        if t.kind != "word":
            continue
        low = words[pos]
        if low == "glob":
            raise DialectError("GLOB has no PostgreSQL translation; use LIKE")
        if low == "like":
            t.text = "ILIKE"
        elif (low == "without" and nxt == "rowid") or (low == "rowid" and prev == "without") or low == "autoincrement":
            t.text = ""
        elif low == "rowid" and prev != ".":
            t.text = "ctid"
        elif low == "integer" and nxt == "primary":
            t.text = "BIGINT GENERATED BY DEFAULT AS IDENTITY"
        elif low in _TYPES and (first in ("create", "alter") or prev == "as"):
            t.text = _TYPES[low]
        elif (conflict_update and table is not None and prev != "." and nxt != "("
              and low in schema.columns.get(table, ()) and not (prev in ("set", ",") and nxt == "=")):
            t.text = f"{table}.{t.text}"
        if low == "set" and prev == "update" and pos >= 2 and words[pos - 2] == "do":
            conflict_update = True
        elif low == "returning":
            conflict_update = False
    text = "".join(t.text for t in toks).strip().rstrip(";").rstrip()
    returning = "returning" in words
    id_column = None
    if ignore:
        text = _before_returning(text, returning, " ON CONFLICT DO NOTHING")
    if first == "insert" and not returning and table is not None and table in schema.identity:
        id_column = schema.identity[table]
        text += f" RETURNING {id_column}"
        returning = True
    return Translated(text, params, first in _ROWS_FIRST_WORDS or returning, id_column)


def _before_returning(text: str, returning: bool, clause: str) -> str:
    if not returning:
        return text + clause
    # The last RETURNING outside literals: translation output keeps literals, so find it among the tokens.
    toks = _tokens(text)
    idx = max(i for i, t in enumerate(toks) if t.kind == "word" and t.low == "returning")
    head = "".join(t.text for t in toks[:idx]).rstrip()
    return head + clause + " " + "".join(t.text for t in toks[idx:])
