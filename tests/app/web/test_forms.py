"""JSON Schema → form fields → typed data, and the labels (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from werkzeug.datastructures import MultiDict

from app.web.forms import display_values, errors_by_field, fields_of, message_zh, parse
from app.web.labels import duration, label, local_time

SCHEMA = {
    "type": "object",
    "properties": {
        "short": {"type": "string", "title": "短", "maxLength": 50},
        "long": {"type": "string", "title": "长"},
        "pick": {"type": "string", "oneOf": [{"const": "a", "title": "甲 A"}]},
        "level": {"type": "integer", "enum": [1, 2], "x-enumTitles": ["一级", "二级"]},
        "flag": {"type": "boolean", "title": "标记"},
        "count": {"type": ["integer", "null"], "minimum": 1},
        "amount": {"type": "number"},
        "when": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "items": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["short", "pick"],
}


def test_widgets_follow_the_schema() -> None:
    fields = {f.name: f for f in fields_of(SCHEMA)}
    assert list(fields) == list(SCHEMA["properties"])
    widgets = {name: f.widget for name, f in fields.items()}
    assert widgets == {
        "short": "text",
        "long": "textarea",
        "pick": "select",
        "level": "select",
        "flag": "checkbox",
        "count": "number",
        "amount": "number",
        "when": "datetime",
        "day": "date",
        "items": "lines",
    }
    assert fields["short"].required and fields["pick"].required and not fields["long"].required
    assert [o.title for o in fields["pick"].options] == ["甲 A"]
    assert [(o.value, o.title) for o in fields["level"].options] == [("1", "一级"), ("2", "二级")]
    assert fields["count"].step == "1" and fields["amount"].step == "any"
    assert fields["short"].title == "短" and fields["long"].title == "长"
    assert fields["day"].title == "day"  # no title: the name
    assert fields_of(None) == []


def test_parse_types_values_and_keeps_what_was_typed() -> None:
    fields = fields_of(SCHEMA)
    form = MultiDict(
        {
            "short": "  hi  ",
            "long": "  ",
            "pick": "a",
            "level": "2",
            "count": "x",
            "amount": "2.50",
            "when": "2025-03-03T08:00",
            "day": "2025-13-01",
            "items": "a\n\n b \n",
        }
    )
    submitted = parse(fields, form)
    assert submitted.data == {
        "short": "hi",
        "pick": "a",
        "level": 2,
        "flag": False,
        "count": "x",  # left for the validator to name
        "amount": 2.5,
        "when": "2025-03-03T08:00:00+08:00",
        "day": "2025-13-01",
        "items": ["a", "b"],
    }
    assert submitted.raw["short"] == "  hi  " and submitted.raw["long"] == "  "
    assert submitted.raw["flag"] is False
    assert parse(fields, MultiDict({"flag": "true", "amount": "3"})).data == {
        "flag": True,
        "amount": 3,
    }


def test_prefill_shows_values_as_inputs_do() -> None:
    values = display_values(
        fields_of(SCHEMA),
        {
            "short": "s",
            "level": 1,
            "flag": True,
            "when": "2025-03-03T01:30:00+00:00",
            "items": ["x", "y"],
            "count": None,
        },
    )
    assert values == {
        "short": "s",
        "level": "1",
        "flag": True,
        "when": "2025-03-03T09:30",
        "items": "x\ny",
    }


def test_errors_land_on_their_fields() -> None:
    by_field, general = errors_by_field(
        ["short", "items"],
        {"short": ["this field is required"], "items.1": ["'' is too short"], "data": ["bad"]},
    )
    assert by_field == {
        "short": ["此项必填 This field is required"],
        "items": ["内容过短 Too short ('' is too short)"],
    }
    assert general == ["data: 不符合要求 Invalid: bad"]
    assert message_zh("Must be one of: a, b.").startswith("请选择")
    assert message_zh("'x' is not of type 'integer'").startswith("格式不正确")
    assert message_zh("Longer than maximum length 5.").startswith("内容过长")


def test_labels_and_times() -> None:
    assert label("home_visit", "mode") == "上门办 Home visit"
    assert label("strange", "mode") == "strange" and label(None, "mode") == "—"
    assert local_time(datetime(2025, 3, 3, 1, 30, tzinfo=UTC)) == "2025-03-03 09:30"
    assert local_time(None) == "—"
    assert duration(2 * 3600 + 5 * 60) == "剩余 2小时5分 2h 5m left"
    assert duration(-(26 * 3600 + 60)) == "超时 1天2小时 1d 2h late"
    assert duration(None) == "—"
