"""Error pages of the web UI (the API answers the same exceptions with problem+json)."""

from __future__ import annotations

from flask import render_template
from werkzeug.exceptions import HTTPException

from app.auth.access import Forbidden
from app.cases.queries import InvalidInput
from app.core.uow import Conflict, NotFound
from app.web import bp
from workflows.errors import ScriptFailure

TITLES = {
    400: "请求无效 Bad request",
    401: "请先登录 Please log in",
    403: "无权操作 Not allowed",
    404: "未找到 Not found",
    405: "不支持的操作 Method not allowed",
    409: "操作冲突 Conflict",
    422: "内容有误 Invalid input",
    429: "请求过多 Too many requests",
}
CSRF_DETAIL = "表单已过期或无效，请刷新页面后重试 The form expired or is invalid; reload and retry"


def page(status: int, detail: str) -> tuple[str, int]:
    title = TITLES.get(status, "出错了 Something went wrong")
    return render_template("web/error.html", status=status, title=title, detail=detail), status


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    if status >= 500:
        return page(status, "服务器出错，已记录 The server failed; the error was logged")
    detail = CSRF_DETAIL if exc.description == "csrf" else str(exc.description or "")
    return page(status, detail)


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[str, int]:
    return page(404, f"没有找到，或您无权查看 Not found, or not yours to see ({exc})")


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden) -> tuple[str, int]:
    return page(403, str(exc))


@bp.errorhandler(Conflict)
def _conflict(exc: Conflict) -> tuple[str, int]:
    return page(409, f"已被他人处理，请刷新后再试 Someone else acted first ({exc})")


@bp.errorhandler(InvalidInput)
def _invalid(exc: InvalidInput) -> tuple[str, int]:
    fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(exc.errors.items()))
    return page(422, f"{exc}: {fields}")


@bp.errorhandler(ScriptFailure)
def _script(exc: ScriptFailure) -> tuple[str, int]:
    return page(422, f"流程脚本出错 A script in the process failed: {exc}")
