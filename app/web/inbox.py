"""The inbox and one task: its case, its form, claim / unclaim / submit.

Scoping and every check live in ``app.tasks.service`` (the same functions the API calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.api.pagination import decode_cursor, encode_cursor
from app.auth.access import DISPATCH_ROLES, Principal
from app.cases.queries import InvalidInput, get_visible, sla_of
from app.cases.schemas import MODES
from app.core.models import HumanTask
from app.core.uow import Conflict, NotFound
from app.tasks import service
from app.web import bp
from app.web.auth import current
from app.web.forms import display_values, errors_by_field, fields_of, parse
from app.web.labels import MODE
from workflows import clock

PAGE_SIZE = 30
TABS = (("mine", "我的 Mine"), ("group", "待领 To claim"), ("all", "全部 All"))
TASK_STATUSES = ("open", "completed", "cancelled")
CONFLICT_MESSAGE = (
    "此任务已被他人完成或领取，您的提交未保存 "
    "This task was already completed or claimed by someone else; nothing was saved"
)


@dataclass(frozen=True)
class Filters:
    scope: str = "all"
    status: str = "open"
    mode: str = ""
    overdue: str = ""  # "", "1" (overdue only), "0" (not overdue)

    @classmethod
    def from_args(cls) -> Filters:
        args = request.args
        scope = args.get("scope", "all")
        status = args.get("status", "open")
        mode = args.get("mode", "")
        overdue = args.get("overdue", "")
        return cls(
            scope=scope if scope in service.SCOPES else "all",
            status=status if status in TASK_STATUSES else "open",
            mode=mode if mode in MODES else "",
            overdue=overdue if overdue in ("0", "1") else "",
        )

    def args(self, **changes: str) -> dict[str, str]:
        values = {
            "scope": self.scope,
            "status": self.status,
            "mode": self.mode,
            "overdue": self.overdue,
            **changes,
        }
        return {k: v for k, v in values.items() if v}


def _after(cursor: str | None) -> tuple[int, datetime | None, str] | None:
    """The key of a page link we made; anything else starts from the top."""
    try:
        key = decode_cursor(cursor)
        if key is None:
            return None
        flag, value, last_id = key
        moment = datetime.fromisoformat(value) if value is not None else None
    except (InvalidInput, TypeError, ValueError):
        return None
    if flag not in (0, 1) or not isinstance(last_id, str) or (moment and not moment.tzinfo):
        return None
    return flag, moment, last_id


def can_claim(p: Principal, task: HumanTask) -> bool:
    return task.status == "open" and task.assignee_id is None and service.can_act(p, task)


def can_unclaim(p: Principal, task: HumanTask) -> bool:
    if task.status != "open" or task.assignee_id is None or not service.can_act(p, task):
        return False
    return task.assignee_id == p.user.id or p.is_admin or p.holds(DISPATCH_ROLES, task.org_unit)


def can_submit(p: Principal, task: HumanTask) -> bool:
    return (
        task.status == "open" and service.can_act(p, task) and task.assignee_id in (None, p.user.id)
    )


@bp.route("/", methods=["GET"])
def inbox() -> str:
    p = current()
    filters = Filters.from_args()
    query = service.InboxQuery(
        scope=filters.scope,
        status=filters.status,
        mode=filters.mode or None,
        overdue={"1": True, "0": False}.get(filters.overdue),
        sort="due_at",
        after=_after(request.args.get("cursor")),
        limit=PAGE_SIZE,
    )
    tasks, key, total = service.inbox(p, query)
    next_url = None
    if key is not None:
        flag, value, last_id = key
        cursor = encode_cursor([flag, value.isoformat() if value else None, last_id])
        next_url = url_for("web.inbox", cursor=cursor, **filters.args())
    now = clock.now()
    rows = [
        {
            "task": t,
            "overdue": t.status == "open" and t.due_at is not None and t.due_at < now,
            "remaining": (t.due_at - now).total_seconds() if t.due_at else None,
            "claimable": can_claim(p, t),
        }
        for t in tasks
    ]
    tabs = [
        (scope, text, url_for("web.inbox", **filters.args(scope=scope))) for scope, text in TABS
    ]
    return render_template(
        "web/inbox.html",
        rows=rows,
        total=total,
        filters=filters,
        tabs=tabs,
        modes=MODE,
        next_url=next_url,
    )


def _render_task(
    task: HumanTask,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    general: list[str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    p = current()
    schema = service.form_schema(task)
    fields = fields_of(schema)
    if values is None:
        values = display_values(fields, service.prefill(task, schema))
    case = task.case
    try:
        get_visible(p, case.id)
        case_link = True
    except NotFound:
        case_link = False
    page = render_template(
        "web/task.html",
        task=task,
        case=case,
        case_link=case_link,
        sla=sla_of(case),
        schema=schema,
        fields=fields,
        values=values,
        errors=errors or {},
        general=general or [],
        claimable=can_claim(p, task),
        unclaimable=can_unclaim(p, task),
        submittable=can_submit(p, task),
        overdue=task.status == "open" and task.due_at is not None and task.due_at < clock.now(),
    )
    return page, status


@bp.route("/tasks/<task_id>", methods=["GET"])
def task_page(task_id: str) -> tuple[str, int]:
    return _render_task(service.visible_task(current(), task_id))


@bp.route("/tasks/<task_id>", methods=["POST"])
def complete(task_id: str) -> Any:
    p = current()
    task = service.visible_task(p, task_id)
    fields = fields_of(service.form_schema(task))
    submitted = parse(fields, request.form)
    try:
        case = service.complete(p, task_id, submitted.data)
    except InvalidInput as exc:
        by_field, general = errors_by_field([f.name for f in fields], exc.errors)
        return _render_task(
            task, values=submitted.raw, errors=by_field, general=general, status=422
        )
    except Conflict:
        task = service.visible_task(p, task_id)
        return _render_task(task, values=submitted.raw, general=[CONFLICT_MESSAGE], status=409)
    flash(f"已提交「{task.name}」 Submitted", "success")
    try:
        get_visible(p, case.id)
    except NotFound:
        return redirect(url_for("web.inbox"))
    return redirect(url_for("web.case_page", case_id=case.id))


@bp.route("/tasks/<task_id>/claim", methods=["POST"])
def claim(task_id: str) -> Response:
    p = current()
    try:
        service.claim(p, task_id)
        flash("已领取 Claimed: you can work on it now", "success")
    except Conflict:
        flash("此任务已被他人领取或已完成 Someone else claimed or finished it first", "error")
    return redirect(url_for("web.task_page", task_id=task_id))


@bp.route("/tasks/<task_id>/unclaim", methods=["POST"])
def unclaim(task_id: str) -> Response:
    p = current()
    try:
        service.unclaim(p, task_id)
        flash("已退回待领 Released to the group", "success")
    except Conflict:
        flash("任务状态已变化，请查看 The task changed meanwhile; have a look", "error")
    return redirect(url_for("web.task_page", task_id=task_id))
