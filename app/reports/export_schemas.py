"""Query arguments of the exports: the period (``from``, ``to``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import marshmallow as ma
from marshmallow import fields

from app.sla.service import LOCAL

MOMENT_HELP = (
    "日期或带时区的时间 a date (YYYY-MM-DD, a whole day in Beijing time) or a date-time with "
    "its offset (ISO 8601, e.g. 2025-03-01T08:00:00+08:00)"
)
# A "+08:00" offset arrives as " 08:00" when the client did not percent-encode the "+".
_UNENCODED_PLUS = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


class Moment(fields.String):
    """A point in time from a date or an aware date-time; ``end``: a date means the end of
    that day (the next midnight), so ``to=2025-03-31`` includes the 31st."""

    default_error_messages = {  # noqa: RUF012
        "invalid": "格式不对 not " + MOMENT_HELP.removeprefix("日期或带时区的时间 "),
        "naive": "时间须带时区 a date-time needs its offset, e.g. +08:00 or Z",
    }

    def __init__(self, *, end: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.end = end

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        text = str(super()._deserialize(value, attr, data, **kwargs)).strip()
        text = _UNENCODED_PLUS.sub(r"\1+\2", text)
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                moment = datetime.combine(date.fromisoformat(text), time(0), LOCAL)
                moment += timedelta(days=1) if self.end else timedelta(0)
            else:
                moment = datetime.fromisoformat(text)
                if moment.tzinfo is None:
                    raise self.make_error("naive")
            return moment.astimezone(UTC)  # also refuses moments UTC cannot hold (year 0)
        except (ValueError, OverflowError) as exc:
            raise self.make_error("invalid") from exc


class PeriodArgs(ma.Schema):
    from_ = Moment(
        data_key="from",
        load_default=None,
        metadata={"description": f"from this moment on (inclusive): {MOMENT_HELP}"},
    )
    to = Moment(
        end=True,
        load_default=None,
        metadata={"description": f"until this moment (a date: through that day): {MOMENT_HELP}"},
    )

    @ma.validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("from_"), data.get("to")
        if start is not None and end is not None and end <= start:
            raise ma.ValidationError("须晚于 from: must be after from", "to")
