"""What the pages call things: Chinese first, English second, and times in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

STATUS = {
    "open": "办理中 Open",
    "closed": "已办结 Closed",
    "withdrawn": "已撤回 Withdrawn",
    "ledgered": "已存档 Ledgered",
    "incident": "异常 Incident",
    "suspended": "已暂停 Suspended",
}
TASK_STATUS = {
    "open": "待办 Open",
    "completed": "已完成 Completed",
    "cancelled": "已取消 Cancelled",
}
MODE = {
    "immediate": "即办 Immediate",
    "proxy": "代办 Proxy",
    "accompany": "陪办 Accompany",
    "home_visit": "上门办 Home visit",
    "urgent": "紧急立刻办 Urgent",
    "green_channel": "绿色通道办 Green channel",
    "escalated": "提级办 Escalated",
}
STAGE = {
    "accept": "接单 Accept",
    "dispatch": "派单 Dispatch",
    "supervise": "督单 Supervise",
    "review": "审单 Review",
    "revisit": "回访 Revisit",
    "whistle": "吹哨 Whistle",
    "answer": "答卷 Answer",
    "closed": "已结束 Closed",
}
ROLE = {
    "grid_worker": "网格员 Grid worker",
    "building_head": "楼栋长 Building head",
    "community_staff": "社区工作者 Community staff",
    "community_leader": "社区书记 Community leader",
    "street_dispatcher": "街道吹哨 Street dispatcher",
    "department_staff": "职能部门 Department staff",
    "supervisor": "督查 Supervisor",
    "volunteer": "志愿者 Volunteer",
    "resident": "居民 Resident",
    "auditor": "审计 Auditor",
    "designer": "流程设计 Designer",
    "admin": "管理员 Admin",
}
REQUEST_TYPE = {
    "consult": "咨询 Consult",
    "help": "求助 Help",
    "complaint": "投诉 Complaint",
    "report": "举报 Report",
    "suggestion": "建议 Suggestion",
}
CHANNEL = {
    "front_desk": "百通岗窗口 Front desk",
    "grid_patrol": "网格巡查 Grid patrol",
    "resident_online": "居民线上 Online",
    "hotline": "热线 Hotline",
    "building_head": "楼栋长 Building head",
}
MOBILITY = {"normal": "正常 Normal", "limited": "行动不便 Limited", "bedridden": "卧床 Bedridden"}
SLA_STATE = {
    "on_track": "正常 On track",
    "due_soon": "即将到期 Due soon",
    "overdue": "已超时 Overdue",
    "closed": "已结束 Closed",
}
EVENT_TYPE = {
    "case.opened": "立案 Case opened",
    "task.completed": "完成任务 Task completed",
    "task.claimed": "领取任务 Task claimed",
    "task.unclaimed": "退回待领 Task released",
    "task.assigned": "指派任务 Task assigned",
    "task.delegated": "委派任务 Task delegated",
    "task.resolved": "委派办毕交回 Delegated task resolved",
    "message.received": "收到消息 Message received",
    "timer.fired": "时限触发 Timer fired",
    "case.migrated": "迁移版本 Case migrated",
    "comment.added": "添加备注 Comment added",
    "attachment.added": "上传附件 Attachment added",
}
# Suggestions for the intake form; the subject catalogue itself is open (any 4-digit code).
CATEGORY = {
    "0101": "市容环境 暴露垃圾 Exposed rubbish",
    "0102": "市容环境 私搭乱建 Illegal structure",
    "0201": "街面秩序 占道经营 Street vending",
    "0301": "施工管理 施工扰民 Construction noise",
    "0401": "公用设施 路灯 Street light",
    "0402": "公用设施 井盖 Manhole cover",
    "0403": "公用设施 管道破裂 Burst pipe",
    "0404": "公用设施 供水 Water supply",
    "0405": "公用设施 供电 Power supply",
    "0406": "公用设施 燃气 Gas",
    "0407": "公用设施 供暖 Heating",
    "0501": "道路交通 路面塌陷 Road collapse",
    "0601": "房屋土地 电梯 Lift",
    "0602": "房屋土地 漏水 Leak",
    "0801": "邻里纠纷 Neighbour dispute",
    "0901": "社会保障 养老 Elderly care",
    "9900": "其他 Other",
}

KINDS: dict[str, dict[str, str]] = {
    "status": STATUS,
    "task_status": TASK_STATUS,
    "mode": MODE,
    "stage": STAGE,
    "role": ROLE,
    "request_type": REQUEST_TYPE,
    "channel": CHANNEL,
    "mobility": MOBILITY,
    "sla": SLA_STATE,
    "event": EVENT_TYPE,
    "category": CATEGORY,
}


def label(value: object, kind: str) -> str:
    """The bilingual label of a code; the code itself when there is none (or "—" for none)."""
    if value is None or value == "":
        return "—"
    return KINDS.get(kind, {}).get(str(value), str(value))


def local_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment as Beijing time ("—" for none)."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI).strftime(fmt)


def duration(seconds: int | float | None) -> str:
    """Remaining time, bilingual: "剩余 2小时5分 2h 5m left" / "超时 1天3小时 1d 3h late"."""
    if seconds is None:
        return "—"
    late = seconds < 0
    total = int(abs(seconds)) // 60
    days, rest = divmod(total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    zh = en = ""
    if days:
        zh, en = f"{days}天", f"{days}d "
    if days or hours:
        zh, en = f"{zh}{hours}小时", f"{en}{hours}h "
    if not days:
        zh, en = f"{zh}{minutes}分", f"{en}{minutes}m "
    return f"超时 {zh} {en}late" if late else f"剩余 {zh} {en}left"
