"""Strict input validation: unknown fields, wrong types and out-of-range values are 422 naming the field.
Hand-written rather than a schema library: the inputs are a dozen flat objects and query strings, and
the error must name the field in our problem format."""
from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from aiohttp import web

from happening_engine.errors import InvalidInput

from . import keys

# One RFC 5322 addr-spec in dot-atom form (letters may be Unicode, RFC 6531): no display name, no
# quoted local part, no comments, no commas or lists; a domain of at least two labels.
_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
EMAIL_RE = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
# Characters no text field takes: C0/C1 controls (NUL included) and lone surrogates, which
# PostgreSQL cannot store; one-line fields also refuse line and paragraph separators.
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")
MAX_JSON_DEPTH = 32
# Datetimes stay a day inside Python's range, so conversion to UTC (and a day either side) never overflows.
MIN_TIME = datetime(1, 1, 2, tzinfo=UTC)
MAX_TIME = datetime(9999, 12, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Field:
    """One input field: `kind` is str, int, enum, datetime, email or uuid. A str is one line unless
    `multiline` (which still refuses other control characters)."""

    kind: str
    required: bool = False
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] = ()
    multiline: bool = False


def check_text(name: str, value: str, *, multiline: bool = False) -> str:
    """`value` if it holds no control character (CR/LF allowed only when `multiline`) and no lone
    surrogate; else 422 naming the field."""
    if (_BAD_TEXT if multiline else _BAD_LINE).search(value):
        what = "control characters" if multiline else "control characters or line breaks"
        raise InvalidInput(f"{name} must not contain {what}", field=name)
    return value


def is_email(value: str) -> bool:
    """One addr-spec (see EMAIL_RE), at most 254 characters."""
    return len(value) <= 254 and EMAIL_RE.fullmatch(value) is not None and len(value.split("@")[0]) <= 64


def _check_range(name: str, value: int, f: Field, what: str) -> None:
    if f.min is not None and value < f.min:
        raise InvalidInput(f"{name}: {what} must be at least {f.min}", field=name)
    if f.max is not None and value > f.max:
        raise InvalidInput(f"{name}: {what} must be at most {f.max}", field=name)


def parse_datetime(name: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be an RFC 3339 date-time string", field=name)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an RFC 3339 date-time", field=name) from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise InvalidInput(f"{name} must be an RFC 3339 date-time with a time zone", field=name)
    offset = parsed.utcoffset() or timedelta(0)
    local = parsed.replace(tzinfo=None)
    if not MIN_TIME.replace(tzinfo=None) + offset <= local <= MAX_TIME.replace(tzinfo=None) + offset:
        raise InvalidInput(f"{name} must be between 0001-01-02T00:00:00Z and 9999-12-30T00:00:00Z", field=name)
    return parsed.astimezone(UTC)


def parse_uuid(name: str, value: Any) -> UUID:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a UUID string", field=name)
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a UUID", field=name) from None


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    return value


def _convert_str(name: str, value: Any, f: Field) -> str:
    text = _string(name, value)
    _check_range(name, len(text), f, "length")
    return check_text(name, text, multiline=f.multiline)


def _convert_enum(name: str, value: Any, f: Field) -> str:
    text = _string(name, value)
    if text not in f.choices:
        raise InvalidInput(f"{name} must be one of {', '.join(f.choices)}", field=name)
    return text


def _convert_email(name: str, value: Any, f: Field) -> str:
    address = _string(name, value).strip().lower()
    if not is_email(address):
        raise InvalidInput(f"{name} must be one email address (local@domain)", field=name)
    return address


def _convert_int(name: str, value: Any, f: Field) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 2.0 is the integer 2 (as JSON Schema counts it)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer", field=name)
    _check_range(name, value, f, "value")
    return value


_CONVERTERS: dict[str, Callable[[str, Any, Field], Any]] = {
    "str": _convert_str,
    "enum": _convert_enum,
    "email": _convert_email,
    "int": _convert_int,
    "datetime": lambda name, value, f: parse_datetime(name, value),
    "uuid": lambda name, value, f: parse_uuid(name, value),
}


def convert(name: str, value: Any, f: Field) -> Any:
    """One value checked against its field; `InvalidInput(field=name)` if it does not fit."""
    converter = _CONVERTERS.get(f.kind)
    if converter is None:
        raise AssertionError(f"unknown field kind {f.kind}")
    return converter(name, value, f)


def parse_object(data: Any, spec: dict[str, Field]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    for name in data:
        if name not in spec:
            raise InvalidInput(f"unknown field {name}", field=name)
    out: dict[str, Any] = {}
    for name, f in spec.items():
        if name not in data:
            if f.required:
                raise InvalidInput(f"{name} is required", field=name)
            continue
        out[name] = convert(name, data[name], f)
    return out


async def json_body(request: web.Request, spec: dict[str, Field]) -> dict[str, Any]:
    """The request's JSON object, validated against `spec` (413 for bodies over client_max_size)."""
    if request.content.is_eof():  # all of it arrived already (the usual small body): nothing to wait for
        raw = await request.read()
    else:
        try:
            async with asyncio.timeout(request.app[keys.SETTINGS].http.body_timeout):
                raw = await request.read()
        except TimeoutError:
            raise web.HTTPRequestTimeout(text="the body did not arrive in time") from None
    return parse_object(loads(raw, "body") if raw.strip() else {}, spec)


def loads(raw: bytes | str, name: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON nested at most `max_depth` deep (deeper input would exhaust the parser's recursion);
    422 naming `name` otherwise. The stdlib parser keeps lone surrogates, so the field holding one
    is named by its own check."""
    if _deeper_than(raw, max_depth):
        raise InvalidInput(f"{name} is nested more than {max_depth} deep", field=name)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput(f"{name} is not valid JSON", field=name) from None


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _deeper_than(raw: bytes | str, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (counted only when there are more
    brackets than that at all: most bodies are flat)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    for byte in _STRINGS.sub(b"", data):
        if byte in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif byte in b"]}":
            depth -= 1
    return False


def path_uuid(request: web.Request, name: str) -> UUID:
    return parse_uuid(name, request.match_info[name])


def query(request: web.Request, spec: dict[str, Field]) -> dict[str, Any]:
    """Query parameters validated like a body (ints parsed from their text); repeats are refused."""
    out: dict[str, Any] = {}
    for name in request.query:
        if name not in spec:
            raise InvalidInput(f"unknown query parameter {name}", field=name)
        values = request.query.getall(name)
        if len(values) > 1:
            raise InvalidInput(f"{name} given more than once", field=name)
        value: Any = values[0]
        f = spec[name]
        if f.kind == "int":
            if not re.fullmatch(r"-?\d{1,9}", value):
                raise InvalidInput(f"{name} must be an integer", field=name)
            value = int(value)
        out[name] = convert(name, value, f)
    return out
