"""CloudWatch Logs FilterLogEvents with real filter patterns and real paging.

moto evaluates only a single plain term and returns every event for anything else.
This module replaces moto's FilterLogEvents handler with one that parses the filter
pattern syntax of CloudWatch Logs (terms, quoted phrases, `?` OR terms, `-` exclusions,
JSON patterns with comparisons, wildcards, `&&`, `||`, parentheses, IS NULL / NOT
EXISTS / IS TRUE / IS FALSE, nested selectors and indexes, and space-delimited
patterns), rejects malformed ones with InvalidParameterException like AWS, and pages
with an opaque nextToken (a page holds at most `limit` events, 10,000 events or about
1 MB, see settings `logs_max_page_events` / `logs_max_page_bytes`).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException
from moto.logs.models import logs_backends
from moto.logs.responses import LogsResponse

from . import clock, settings


class PatternError(ValueError):
    pass


def invalid_pattern(detail: str) -> InvalidParameterException:
    return InvalidParameterException(msg=f"Invalid filter pattern: {detail}")


# ---------------------------------------------------------------------------
# Tokenizer shared by the pattern kinds

_PUNCT = ("&&", "||", "!=", "<=", ">=", "=", "<", ">", "(", ")", "{", "}", "[", "]", ",")
_BARE_TERM = re.compile(r"[A-Za-z0-9_\-.:/@*+#%^~]+")


@dataclass
class Tok:
    kind: str  # str | word | punct
    text: str
    pos: int


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == '"':
            j = i + 1
            buf = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j + 1])
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            if j >= n:
                raise PatternError(f"unterminated quoted string at position {i}")
            toks.append(Tok("str", "".join(buf), i))
            i = j + 1
            continue
        for p in _PUNCT:
            if text.startswith(p, i):
                toks.append(Tok("punct", p, i))
                i += len(p)
                break
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] != '"' and not any(text.startswith(p, j) for p in _PUNCT):
                j += 1
            toks.append(Tok("word", text[i:j], i))
            i = j
    return toks


# ---------------------------------------------------------------------------
# Term patterns:  ERROR "exact phrase" ?a ?b -excluded


def _term_matcher(text: str) -> Callable[[str], bool]:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        prefix = ""
        if text[i] in "?-":
            prefix = text[i]
            i += 1
            if i >= n or text[i].isspace():
                raise PatternError(f"'{prefix}' must be followed by a term")
        if text[i] == '"':
            j = text.find('"', i + 1)
            if j < 0:
                raise PatternError(f"unterminated quoted term at position {i}")
            term = text[i + 1 : j]
            i = j + 1
            if i < n and not text[i].isspace():
                raise PatternError(f"unexpected character after quoted term at position {i}")
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            term = text[i:j]
            i = j
            if not _BARE_TERM.fullmatch(term):
                raise PatternError(f"invalid character(s) in term '{term}'; quote terms with special characters")
        {"": required, "?": optional, "-": excluded}[prefix].append(term)

    def match(message: str) -> bool:
        if any(t not in message for t in required):
            return False
        if optional and not any(t in message for t in optional):
            return False
        if any(t in message for t in excluded):
            return False
        return True

    return match


# ---------------------------------------------------------------------------
# JSON patterns:  { $.level = "error" && ($.latency > 500 || $.x IS NULL) }

_MISSING = object()
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_SELECTOR_KEY = re.compile(r"[A-Za-z0-9_\-@:$]+")


def _wildcard(value: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(part) for part in value.split("*")) + "$", re.S)


class _JsonParser:
    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise PatternError("unexpected end of pattern")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.kind != "punct" or tok.text != text:
            raise PatternError(f"expected '{text}' at position {tok.pos}, found '{tok.text}'")

    def parse(self):
        self.expect("{")
        node = self.or_expr()
        self.expect("}")
        if self.peek() is not None:
            raise PatternError(f"unexpected '{self.peek().text}' after the closing brace")
        return node

    def or_expr(self):
        nodes = [self.and_expr()]
        while (t := self.peek()) is not None and t.kind == "punct" and t.text == "||":
            self.take()
            nodes.append(self.and_expr())
        return nodes[0] if len(nodes) == 1 else (lambda doc, ns=nodes: any(f(doc) for f in ns))

    def and_expr(self):
        nodes = [self.unary()]
        while (t := self.peek()) is not None and t.kind == "punct" and t.text == "&&":
            self.take()
            nodes.append(self.unary())
        return nodes[0] if len(nodes) == 1 else (lambda doc, ns=nodes: all(f(doc) for f in ns))

    def unary(self):
        t = self.peek()
        if t is not None and t.kind == "punct" and t.text == "(":
            self.take()
            node = self.or_expr()
            self.expect(")")
            return node
        return self.comparison()

    def selector(self) -> list:
        tok = self.take()
        if tok.kind != "word" or not tok.text.startswith("$"):
            raise PatternError(f"expected a selector starting with '$' at position {tok.pos}, found '{tok.text}'")
        path: list = []
        text = tok.text[1:]
        while True:
            if text.startswith("."):
                m = _SELECTOR_KEY.match(text, 1)
                if not m:
                    raise PatternError(f"invalid selector '{tok.text}'")
                path.append(m.group(0))
                text = text[m.end() :]
            elif text == "":
                # an index may follow as separate tokens: [ 0 ]
                nxt = self.peek()
                if nxt is not None and nxt.kind == "punct" and nxt.text == "[":
                    self.take()
                    idx = self.take()
                    if idx.kind != "word" or not idx.text.isdigit():
                        raise PatternError(f"array index must be a number in selector '{tok.text}'")
                    self.expect("]")
                    path.append(int(idx.text))
                    nxt2 = self.peek()
                    if nxt2 is not None and nxt2.kind == "word" and nxt2.text.startswith(".") and nxt2.pos == self.toks[self.i - 1].pos + 1:
                        self.take()
                        text = nxt2.text
                        continue
                    continue
                break
            else:
                raise PatternError(f"invalid selector '{tok.text}'")
        if not path:
            raise PatternError(f"selector '{tok.text}' selects nothing")
        return path

    def comparison(self):
        path = self.selector()
        tok = self.take()
        if tok.kind == "word" and tok.text.upper() == "IS":
            what = self.take()
            word = what.text.upper() if what.kind == "word" else ""
            if word == "NULL":
                return lambda doc: _lookup(doc, path) is None
            if word in ("TRUE", "FALSE"):
                want = word == "TRUE"
                return lambda doc: (v := _lookup(doc, path)) is want
            raise PatternError(f"expected NULL, TRUE or FALSE after IS at position {what.pos}")
        if tok.kind == "word" and tok.text.upper() == "NOT":
            what = self.take()
            if what.kind != "word" or what.text.upper() != "EXISTS":
                raise PatternError(f"expected EXISTS after NOT at position {what.pos}")
            return lambda doc: _lookup(doc, path) is _MISSING
        if tok.kind != "punct" or tok.text not in ("=", "!=", "<", "<=", ">", ">="):
            raise PatternError(f"expected a comparison operator at position {tok.pos}, found '{tok.text}'")
        op = tok.text
        val = self.take()
        if val.kind == "punct":
            raise PatternError(f"expected a value after '{op}' at position {val.pos}")
        if val.kind == "word" and _NUMBER.fullmatch(val.text):
            number = float(val.text)
            return _numeric(path, op, number)
        if op not in ("=", "!="):
            raise PatternError(f"operator '{op}' needs a numeric value, found '{val.text}'")
        if val.kind == "word" and val.text.startswith("$"):
            raise PatternError(f"comparing two selectors is not supported ('{val.text}')")
        return _string(path, op, val.text)


def _lookup(doc: Any, path: list) -> Any:
    cur = doc
    for key in path:
        if isinstance(key, int):
            if not isinstance(cur, list) or key >= len(cur):
                return _MISSING
            cur = cur[key]
        else:
            if not isinstance(cur, dict) or key not in cur:
                return _MISSING
            cur = cur[key]
    return cur


def _numeric(path, op, number):
    ops = {
        "=": lambda a: a == number,
        "!=": lambda a: a != number,
        "<": lambda a: a < number,
        "<=": lambda a: a <= number,
        ">": lambda a: a > number,
        ">=": lambda a: a >= number,
    }
    test = ops[op]

    def match(doc):
        v = _lookup(doc, path)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        return test(float(v))

    return match


def _string(path, op, text):
    rx = _wildcard(text) if "*" in text else None

    def equal(v) -> bool:
        if isinstance(v, bool) or v is None or isinstance(v, (dict, list)):
            return False
        s = v if isinstance(v, str) else json.dumps(v)
        return bool(rx.match(s)) if rx else s == text

    def match(doc):
        v = _lookup(doc, path)
        if v is _MISSING or isinstance(v, (dict, list)):
            return False
        return equal(v) if op == "=" else not equal(v)

    return match


def _json_matcher(text: str) -> Callable[[str], bool]:
    toks = tokenize(text)
    pred = _JsonParser(toks).parse()

    def match(message: str) -> bool:
        try:
            doc = json.loads(message)
        except ValueError:
            return False
        if not isinstance(doc, (dict, list)):
            return False
        return bool(pred(doc))

    return match


# ---------------------------------------------------------------------------
# Space-delimited patterns:  [ip, user, ..., status_code = 5*, bytes > 1000]


def _split_fields(message: str) -> list[str]:
    fields, i, n = [], 0, len(message)
    pairs = {'"': '"', "[": "]"}
    while i < n:
        if message[i].isspace():
            i += 1
            continue
        if message[i] in pairs:
            close = message.find(pairs[message[i]], i + 1)
            if close < 0:
                fields.append(message[i + 1 :])
                break
            fields.append(message[i + 1 : close])
            i = close + 1
            continue
        j = i
        while j < n and not message[j].isspace():
            j += 1
        fields.append(message[i:j])
        i = j
    return fields


def _space_matcher(text: str) -> Callable[[str], bool]:
    toks = tokenize(text)
    if not toks or toks[0].text != "[" or toks[-1].text != "]":
        raise PatternError("space-delimited pattern must be enclosed in [ ]")
    body = toks[1:-1]
    specs: list[Any] = []  # "..." or (name, [conditions])
    group: list[Tok] = []

    def flush():
        if not group:
            raise PatternError("empty field in space-delimited pattern")
        if len(group) == 1 and group[0].text == "...":
            specs.append("...")
            return
        name = group[0]
        if name.kind != "word" or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.text):
            raise PatternError(f"invalid field name '{name.text}'")
        conds = []
        rest = group[1:]
        k = 0
        while k < len(rest):
            op = rest[k]
            if op.kind != "punct" or op.text not in ("=", "!=", "<", "<=", ">", ">="):
                raise PatternError(f"expected a comparison operator after '{name.text}'")
            if k + 1 >= len(rest) or rest[k + 1].kind == "punct":
                raise PatternError(f"expected a value after '{op.text}'")
            conds.append((op.text, rest[k + 1]))
            k += 2
            if k < len(rest):
                if rest[k].kind == "punct" and rest[k].text in ("&&", "||"):
                    conds.append(rest[k].text)
                    k += 1
                else:
                    raise PatternError(f"unexpected '{rest[k].text}' in field '{name.text}'")
        specs.append((name.text, conds))

    for tok in body:
        if tok.kind == "punct" and tok.text == ",":
            flush()
            group = []
        else:
            group.append(tok)
    flush()

    def check(field: str, op: str, val: Tok) -> bool:
        if val.kind == "word" and _NUMBER.fullmatch(val.text):
            try:
                num = float(field)
            except ValueError:
                return op == "!="
            target = float(val.text)
            return {"=": num == target, "!=": num != target, "<": num < target, "<=": num <= target, ">": num > target, ">=": num >= target}[op]
        if op not in ("=", "!="):
            raise PatternError(f"operator '{op}' needs a numeric value")
        rx = _wildcard(val.text) if "*" in val.text else None
        eq = bool(rx.match(field)) if rx else field == val.text
        return eq if op == "=" else not eq

    def field_ok(field: str, conds: list) -> bool:
        if not conds:
            return True
        result = check(field, conds[0][0], conds[0][1])
        k = 1
        while k < len(conds):
            joiner, (op, val) = conds[k], conds[k + 1]
            r = check(field, op, val)
            result = (result and r) if joiner == "&&" else (result or r)
            k += 2
        return result

    # Validate operators once so malformed values fail at parse time.
    for spec in specs:
        if spec != "...":
            for c in spec[1]:
                if isinstance(c, tuple) and c[0] not in ("=", "!=") and not (c[1].kind == "word" and _NUMBER.fullmatch(c[1].text)):
                    raise PatternError(f"operator '{c[0]}' needs a numeric value")

    def match(message: str) -> bool:
        fields = _split_fields(message)
        return _match_specs(specs, 0, fields, 0, field_ok)

    return match


def _match_specs(specs, si, fields, fi, field_ok) -> bool:
    if si == len(specs):
        return fi == len(fields)
    spec = specs[si]
    if spec == "...":
        return any(_match_specs(specs, si + 1, fields, k, field_ok) for k in range(fi, len(fields) + 1))
    if fi >= len(fields):
        return False
    return field_ok(fields[fi], spec[1]) and _match_specs(specs, si + 1, fields, fi + 1, field_ok)


# ---------------------------------------------------------------------------


def compile_pattern(pattern: str | None) -> Callable[[str], bool]:
    """A predicate over event messages; raises PatternError when malformed."""
    text = (pattern or "").strip()
    if not text:
        return lambda message: True
    if text.startswith("{"):
        return _json_matcher(text)
    if text.startswith("["):
        return _space_matcher(text)
    if text.startswith("}") or text.startswith("]"):
        raise PatternError(f"unexpected '{text[0]}' at the start of the pattern")
    return _term_matcher(text)


# ---------------------------------------------------------------------------
# FilterLogEvents


def _encode_token(group: str, key: tuple) -> str:
    raw = json.dumps({"g": group, "k": list(key)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, group: str) -> tuple:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if data["g"] != group:
            raise ValueError
        ts, stream, eid = data["k"]
        return int(ts), str(stream), int(eid)
    except (ValueError, KeyError, TypeError):
        raise InvalidParameterException(msg="The specified nextToken is invalid.")


def _resolve_group(backend, name: str | None, identifier: str | None):
    if bool(name) == bool(identifier):
        raise InvalidParameterException(msg="Exactly one of logGroupName or logGroupIdentifier must be specified.")
    if identifier:
        if identifier.startswith("arn:"):
            part = identifier.split(":log-group:", 1)
            if len(part) != 2:
                raise InvalidParameterException(msg=f"Invalid logGroupIdentifier: {identifier}")
            name = part[1]
            if name.endswith(":*"):
                name = name[:-2]
        else:
            name = identifier
    group = backend.groups.get(name)
    if group is None:
        raise ResourceNotFoundException()
    return name, group


def filter_log_events(self) -> str:
    backend = logs_backends[self.current_account][self.region]
    name, group = _resolve_group(backend, self._get_param("logGroupName"), self._get_param("logGroupIdentifier"))
    stream_names = self._get_param("logStreamNames")
    prefix = self._get_param("logStreamNamePrefix")
    if stream_names and prefix:
        raise InvalidParameterException(msg="logStreamNames and logStreamNamePrefix are mutually exclusive; specify only one.")
    if stream_names is not None and not 1 <= len(stream_names) <= 100:
        raise InvalidParameterException(
            constraint="Member must have length less than or equal to 100" if stream_names else "Member must have length greater than or equal to 1",
            parameter="logStreamNames",
            value=stream_names,
        )
    limit = self._get_param("limit")
    if limit is not None:
        limit = int(limit)
        if not 1 <= limit <= 10000:
            raise InvalidParameterException(
                constraint="Member must have value less than or equal to 10000" if limit > 10000 else "Member must have value greater than or equal to 1",
                parameter="limit",
                value=limit,
            )
    pattern = self._get_param("filterPattern")
    if pattern is not None and len(pattern) > 1024:
        raise InvalidParameterException(
            constraint="Member must have length less than or equal to 1024", parameter="filterPattern", value=pattern
        )
    try:
        matches = compile_pattern(pattern)
    except PatternError as exc:
        raise invalid_pattern(str(exc))
    start = self._get_param("startTime")
    end = self._get_param("endTime")
    start = None if start is None else int(start)
    end = None if end is None else int(end)
    token = self._get_param("nextToken")
    after = _decode_token(token, name) if token else None

    streams = []
    for sname, stream in list(group.streams.items()):
        if stream_names and sname not in stream_names:
            continue
        if prefix and not sname.startswith(prefix):
            continue
        streams.append((sname, stream))

    # With awslogs batching (settings "awslogs_batch_seconds"), a line is not searchable
    # before its batch is ingested.
    visible_until = clock.get_clock().now_ms() if settings.get("awslogs_batch_seconds") else None
    candidates = []
    for sname, stream in streams:
        for ev in list(stream.events):
            if visible_until is not None and (ev.ingestion_time or 0) > visible_until:
                continue
            if start is not None and ev.timestamp < start:
                continue
            if end is not None and ev.timestamp > end:
                continue
            key = (int(ev.timestamp), sname, int(ev.event_id))
            if after is not None and key <= after:
                continue
            candidates.append((key, ev))
    candidates.sort(key=lambda c: c[0])

    max_events = min(limit or 10000, int(settings.get("logs_max_page_events") or 10000))
    max_bytes = int(settings.get("logs_max_page_bytes") or 1048576)
    page, size, last_key, more = [], 0, None, False
    for key, ev in candidates:
        if not matches(ev.message):
            continue
        ev_size = len(ev.message.encode()) + 26
        if len(page) >= max_events or (page and size + ev_size > max_bytes):
            more = True
            break
        page.append(
            {
                "logStreamName": key[1],
                "timestamp": ev.timestamp,
                "message": ev.message,
                "ingestionTime": ev.ingestion_time,
                "eventId": f"{ev.event_id:056d}",
            }
        )
        size += ev_size
        last_key = key
    result: dict[str, Any] = {
        "events": page,
        "searchedLogStreams": [{"logStreamName": s, "searchedCompletely": not more} for s, _ in streams],
    }
    if more and last_key is not None:
        result["nextToken"] = _encode_token(name, last_key)
    return json.dumps(result)


LogsResponse.filter_log_events = filter_log_events
