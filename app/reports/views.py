"""/api/v1/stats: the seeds' figures and the three rates for a period and an org unit.

The schemas live here with the one route they serve; the definitions are in
``app/reports/stats.py`` and ``docs/reports.md``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import fields, validate

from app.auth.access import current_principal
from app.reports import stats

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="Reports: stats")

_RATE = "; null when the denominator is 0"
# Whole days in this range: beyond it a Shanghai midnight has no UTC datetime to compare.
_DAYS = validate.Range(min=date(1970, 1, 1), max=date(2999, 12, 31))


class StatsArgs(ma.Schema):
    from_ = fields.Date(
        data_key="from",
        load_default=None,
        validate=_DAYS,
        metadata={"description": "first day (Asia/Shanghai), included; default: the 1st of "
                  "the month of `to`"},
    )  # fmt: skip
    to = fields.Date(
        load_default=None,
        validate=_DAYS,
        metadata={"description": "last day (Asia/Shanghai), included; default: today"},
    )
    org_unit = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "unit code: its cases and those below it; default: the "
                  "units you hold roles in (every unit for auditors and admins)"},
    )  # fmt: skip

    @ma.validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        first, last = data.get("from_"), data.get("to")
        if first and last and first > last:
            raise ma.ValidationError("开始日期晚于结束日期 from is after to", field_name="from")


class StatsBasisSchema(ma.Schema):
    dispatched = fields.Integer(metadata={"description": "response rate's denominator"})
    responded = fields.Integer(metadata={"description": "signed for within the limit"})
    rated = fields.Integer(metadata={"description": "cases rated at 回访 in the period"})
    solved = fields.Integer(metadata={"description": "rated as solved"})
    satisfied = fields.Integer(metadata={"description": "满意 (+ 基本满意 per the setting)"})
    due = fields.Integer(metadata={"description": "on-time rate's denominator"})
    on_time = fields.Integer(metadata={"description": "finished by the due time"})
    closed = fields.Integer(metadata={"description": "finished at all (结案)"})


class StatsSchema(ma.Schema):
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    org_unit = fields.String(allow_none=True, metadata={"description": "null: your units"})
    received = fields.Integer(metadata={"description": "接件: cases opened in the period"})
    handled = fields.Integer(
        metadata={"description": "已处理: cases closed (办结, status closed) in the period"}
    )
    whistles = fields.Integer(
        metadata={"description": "吹哨: street whistles blown (whistle task completed)"}
    )
    answers = fields.Integer(
        metadata={"description": "答卷: department answers (answer task completed)"}
    )
    hard_solved = fields.Integer(
        metadata={"description": "协调解决: 提级办 escalated cases closed in the period"}
    )
    mediated = fields.Integer(
        metadata={"description": "调解纠纷: mediation cases that ended resolved in the period"}
    )
    response_rate = fields.Float(
        allow_none=True,
        metadata={"description": "响应率: cases dispatched in the period and signed for (first "
                  "claim or completion) by respond_due_at ÷ those dispatched" + _RATE},
    )  # fmt: skip
    resolution_rate = fields.Float(
        allow_none=True,
        metadata={"description": "解决率: cases rated solved at 回访 ÷ cases rated" + _RATE},
    )
    satisfaction_rate = fields.Float(
        allow_none=True,
        metadata={"description": "满意率: (满意 + 基本满意, a setting) ÷ cases rated" + _RATE},
    )
    on_time_rate = fields.Float(
        allow_none=True,
        metadata={"description": "按期结案率: cases due in the period whose work was approved "
                  "by the due time ÷ (cases due − ledgered − withdrawn)" + _RATE},
    )  # fmt: skip
    closure_rate = fields.Float(
        allow_none=True,
        metadata={"description": "结案率: finished at all ÷ the same denominator" + _RATE},
    )
    overdue = fields.Integer(
        metadata={"description": "超期: cases due in the period not finished by their due time"}
    )
    basis = fields.Nested(StatsBasisSchema, metadata={"description": "the rates' counts"})


@blp.route("/stats", methods=["GET"])
@blp.arguments(StatsArgs, location="query")
@blp.response(200, StatsSchema)
@blp.alt_response(403, description="the org unit is not one you cover")
def get_stats(args: dict[str, Any]) -> dict[str, Any]:
    """统计: received, handled, whistles, answers, solved, mediated and the rates."""
    result = stats.compute(
        current_principal(), first=args["from_"], last=args["to"], org_unit=args["org_unit"]
    )
    result["from_"] = result.pop("from")
    return result
