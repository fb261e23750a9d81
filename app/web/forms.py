"""HTML forms from a task's JSON Schema, and the typed data back from what was submitted.

The schema stays the judge: this module only turns inputs into JSON values (leaving out what
was left empty, so a missing required field is reported as such) and the validator's errors
back onto the fields. What the user typed is kept as typed, so a page that failed validation
shows it again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from app.web.labels import SHANGHAI

LONG_TEXT = 200  # strings allowed to be longer than this (or unbounded) get a textarea


@dataclass(frozen=True)
class Option:
    value: str  # what the <option> carries
    title: str
    const: Any  # the JSON value it stands for


@dataclass(frozen=True)
class FormField:
    name: str
    title: str
    description: str
    widget: str  # text, textarea, select, checkbox, number, datetime, date, lines
    required: bool
    options: tuple[Option, ...] = ()
    step: str = "any"
    minimum: Any = None
    maximum: Any = None
    max_length: int | None = None
    kind: str = "string"  # the JSON type


@dataclass
class Submission:
    data: dict[str, Any] = field(default_factory=dict)  # typed, for the validator
    raw: dict[str, Any] = field(default_factory=dict)  # as typed, to show again


def _json_type(prop: Mapping[str, Any]) -> str:
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return str(kind)


def _options(prop: Mapping[str, Any]) -> tuple[Option, ...]:
    if isinstance(prop.get("oneOf"), list):
        choices = [c for c in prop["oneOf"] if isinstance(c, Mapping) and "const" in c]
        return tuple(
            Option(_option_value(c["const"]), str(c.get("title") or c["const"]), c["const"])
            for c in choices
        )
    if isinstance(prop.get("enum"), list):
        titles = prop.get("x-enumTitles") or prop.get("enumNames") or []
        return tuple(
            Option(
                _option_value(value),
                str(titles[i]) if i < len(titles) else str(value),
                value,
            )
            for i, value in enumerate(prop["enum"])
        )
    return ()


def _option_value(const: Any) -> str:
    return const if isinstance(const, str) else json.dumps(const)


def _widget(prop: Mapping[str, Any], kind: str, options: tuple[Option, ...]) -> str:
    if options:
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return "number"
    if kind == "array":
        return "lines"
    fmt = prop.get("format")
    if fmt == "date-time":
        return "datetime"
    if fmt == "date":
        return "date"
    max_length = prop.get("maxLength")
    if max_length is None or max_length > LONG_TEXT:
        return "textarea"
    return "text"


def fields_of(schema: Mapping[str, Any] | None) -> list[FormField]:
    """One field per top-level property, in the schema's order."""
    if not schema:
        return []
    required = set(schema.get("required") or [])
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        kind = _json_type(prop)
        options = _options(prop)
        out.append(
            FormField(
                name=name,
                title=str(prop.get("title") or name),
                description=str(prop.get("description") or ""),
                widget=_widget(prop, kind, options),
                required=name in required,
                options=options,
                step="1" if kind == "integer" else "any",
                minimum=prop.get("minimum"),
                maximum=prop.get("maximum"),
                max_length=prop.get("maxLength"),
                kind=kind,
            )
        )
    return out


# -- values: JSON → inputs ------------------------------------------------------------------
def display_values(fields: list[FormField], data: Mapping[str, Any]) -> dict[str, Any]:
    """Prefill: each field's current value as its input shows it."""
    out: dict[str, Any] = {}
    for f in fields:
        if f.name not in data or data[f.name] is None:
            continue
        value = data[f.name]
        if f.widget == "checkbox":
            out[f.name] = bool(value)
        elif f.widget == "select":
            out[f.name] = _option_value(value)
        elif f.widget == "lines" and isinstance(value, list):
            out[f.name] = "\n".join(str(v) for v in value)
        elif f.widget == "datetime":
            out[f.name] = _local_input(value)
        else:
            out[f.name] = str(value)
    return out


def _local_input(value: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(SHANGHAI)
    return moment.strftime("%Y-%m-%dT%H:%M")


# -- values: inputs → JSON ------------------------------------------------------------------
def parse(fields: list[FormField], form: MultiDict[str, str]) -> Submission:
    """The typed data for the validator; anything that does not convert is passed on as
    typed, so the validator names the field."""
    out = Submission()
    for f in fields:
        if f.widget == "checkbox":
            checked = form.get(f.name) is not None
            out.raw[f.name] = checked
            out.data[f.name] = checked
            continue
        text = form.get(f.name, "")
        out.raw[f.name] = text
        if f.widget != "textarea" and f.widget != "lines":
            text = text.strip()
        if text.strip() == "":
            continue
        out.data[f.name] = _convert(f, text)
    return out


def _convert(f: FormField, text: str) -> Any:
    if f.widget == "select":
        for option in f.options:
            if option.value == text:
                return option.const
        return text
    if f.widget == "number":
        try:
            return int(text) if f.kind == "integer" else _number(text)
        except ValueError:
            return text
    if f.widget == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if f.widget == "datetime":
        return _aware_iso(text)
    if f.widget == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return text
    return text


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def _aware_iso(text: str) -> str:
    """A datetime-local input ("2025-03-03T10:30") as ISO 8601 with Beijing's offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.isoformat()


# -- errors ---------------------------------------------------------------------------------
MESSAGES = {
    "this field is required": "此项必填 This field is required",
    "unknown field": "未知字段 Unknown field",
    "Missing data for required field.": "此项必填 This field is required",
    "Not a valid integer.": "请输入整数 Not a valid integer",
    "Not a valid boolean.": "请选择是或否 Not a valid yes/no",
    "not a phone number": "电话号码格式不正确 Not a phone number",
}


def message_zh(message: str) -> str:
    """A validator's message, with a Chinese version first where we know one."""
    known = MESSAGES.get(message)
    if known:
        return known
    if message.startswith("Must be one of"):
        return "请选择列表中的一项 Choose one of the listed values"
    if "is too long" in message or message.startswith("Longer than"):
        return f"内容过长 Too long ({message})"
    if "is too short" in message or message.startswith("Shorter than"):
        return f"内容过短 Too short ({message})"
    if "is not of type" in message:
        return f"格式不正确 Wrong type ({message})"
    return f"不符合要求 Invalid: {message}"


def errors_by_field(
    names: list[str], errors: Mapping[str, list[str]]
) -> tuple[dict[str, list[str]], list[str]]:
    """({field: messages}, messages that belong to no field) from dotted error paths."""
    known = set(names)
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for path, messages in errors.items():
        head = path if path in known else path.split(".", 1)[0]
        texts = [message_zh(m) for m in messages]
        if head in known:
            by_field.setdefault(head, []).extend(texts)
        else:
            general.extend(f"{path}: {t}" for t in texts)
    return by_field, general
