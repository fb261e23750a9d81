"""Exports of the audit log (审计日志导出): CSV for auditors, IEEE 1849 XES for process mining.

Both stream: rows are read in keyset batches, each batch its own short read transaction, and
written out as they come, so an export of years of cases never sits in memory or holds a
snapshot open. Both are scoped like every read: the cases the caller may see
(``visible_condition``; auditors and admins see every case).

- ``events_csv``: one row per audit event whose time lies in the period, in chain order (case,
  then seq), with the case id and the data as the canonical JSON the event's hash covers, so
  anyone can recompute the chain from the file (app/core/hashchain.py). UTF-8 with a
  byte-order mark: Excel (zh-CN) reads a CSV without one as GBK and garbles the Chinese; csv
  readers take it with ``utf-8-sig``.
- ``cases_xes``: one trace per case opened in the period (whole traces, even events after the
  period, so process mining sees complete cases), built from the audit log (see ``xes_events``).
  The log element carries no namespace, as the standard's XSD (no target namespace) wants;
  pm4py reads it (checked by hand with pm4py 2.7; see docs/architecture.md).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import quoteattr

from sqlalchemy import and_, or_, select, true

from app.auth.access import Principal
from app.cases.queries import visible_condition
from app.core.models import Case, CaseEvent, HumanTask
from app.database import end_read
from app.extensions import db
from app.orgs.models import OrgUnit

CSV_COLUMNS = ("case_code", "case_id", "seq", "type", "actor", "at", "data", "prev_hash", "hash")
BOM = "\ufeff"
EVENT_BATCH = 1000  # audit rows per read
CASE_BATCH = 100  # cases (traces) per read, with all their events

HUMAN_TASKS = frozenset({"UserTask", "ManualTask"})
ASSIGNMENTS = frozenset({"task.claimed", "task.assigned", "task.unclaimed"})
XES_EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
)
# Characters XML 1.0 forbids even escaped (control characters from pasted text).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Period:
    """[start, end): either side open when None."""

    start: datetime | None = None
    end: datetime | None = None

    def condition(self, column: Any) -> Any:
        parts = []
        if self.start is not None:
            parts.append(column >= self.start)
        if self.end is not None:
            parts.append(column < self.end)
        return and_(*parts) if parts else true()


# -- CSV ----------------------------------------------------------------------------------------


def events_csv(p: Principal, period: Period) -> Iterator[str]:
    """The audit events of the caller's visible cases in ``period``, as CSV text chunks."""
    base = (
        select(
            CaseEvent.case_id,
            Case.code,
            CaseEvent.seq,
            CaseEvent.type,
            CaseEvent.actor,
            CaseEvent.at,
            CaseEvent.data,
            CaseEvent.prev_hash,
            CaseEvent.hash,
        )
        .join(Case, Case.id == CaseEvent.case_id)
        .where(visible_condition(p), period.condition(CaseEvent.at))
        .order_by(CaseEvent.case_id, CaseEvent.seq)
        .limit(EVENT_BATCH)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerow(CSV_COLUMNS)
    yield BOM + _drain(buffer)
    after: tuple[int, int] | None = None
    while True:
        stmt = base
        if after is not None:
            case_id, seq = after
            stmt = stmt.where(
                or_(
                    CaseEvent.case_id > case_id,
                    and_(CaseEvent.case_id == case_id, CaseEvent.seq > seq),
                )
            )
        rows = db.session.execute(stmt).all()
        end_read()  # no snapshot held while the client downloads
        for r in rows:
            writer.writerow(
                (
                    r.code,
                    r.case_id,
                    r.seq,
                    r.type,
                    r.actor,
                    _iso(r.at),
                    _canonical(r.data),
                    r.prev_hash,
                    r.hash,
                )
            )
        if rows:
            yield _drain(buffer)
        if len(rows) < EVENT_BATCH:
            return
        after = (rows[-1].case_id, rows[-1].seq)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _canonical(data: Any) -> str:
    """The JSON the hash covers (app/core/hashchain.py): sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# -- XES ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XesEvent:
    activity: str
    at: datetime
    resource: str
    transition: str  # XES standard lifecycle: schedule, assign, reassign, complete, ate_abort
    role: str | None = None
    bpmn_id: str | None = None
    audit_seq: int | None = None


def xes_events(
    events: Iterable[Any], tasks: Mapping[str, tuple[str, str | None, str | None]]
) -> Iterator[XesEvent]:
    """Process-mining events of one case from its audit events (oldest first).

    ``tasks`` maps inbox task ids to (name, bpmn_id, role). For each audit event, in order:
    activities the step finished (``complete``: user tasks and the named automatic steps and
    events, e.g. a script task or a fired reminder; gateways and unnamed elements are not
    activities), inbox tasks the step cancelled (``ate_abort``), inbox tasks it opened
    (``schedule``: the task entered an inbox, which starts its SLA clock), and claims
    (``assign``) or re-assignments and releases (``reassign``). ``org:resource`` is the audit
    event's actor: the person, or ``scheduler`` for timers, whose action ran the step.
    """
    for ev in events:
        data = ev.data or {}
        completed = set()
        for done in data.get("finished") or ():
            if done.get("state") != "COMPLETED":
                continue
            kind, name = str(done.get("spec_type") or ""), done.get("name")
            if kind in HUMAN_TASKS or (name and "Gateway" not in kind):
                completed.add(done.get("id"))
                role = done.get("lane") if kind in HUMAN_TASKS else None
                label = str(name or done.get("bpmn_id"))
                yield _event(ev, (label, done.get("bpmn_id"), role), "complete")
        changes = data.get("tasks") or {}
        for task_id in changes.get("closed") or ():
            if task_id not in completed and task_id in tasks:
                yield _event(ev, tasks[task_id], "ate_abort")
        for task_id in changes.get("created") or ():
            if task_id in tasks:
                yield _event(ev, tasks[task_id], "schedule")
        task_id = (data.get("task") or {}).get("id")
        if ev.type in ASSIGNMENTS and task_id in tasks:
            before = (data.get("assignee") or [None])[0]
            first = ev.type != "task.unclaimed" and before is None
            yield _event(ev, tasks[task_id], "assign" if first else "reassign")


def _event(ev: Any, task: tuple[str, str | None, str | None], transition: str) -> XesEvent:
    name, bpmn_id, role = task
    return XesEvent(name, ev.at, ev.actor, transition, role, bpmn_id, ev.seq)


def cases_xes(p: Principal, period: Period) -> Iterator[str]:
    """IEEE 1849 XES of the caller's visible cases opened in ``period``, as text chunks."""
    yield _xes_head()
    cases = (
        select(Case.id, Case.code, Case.status, Case.mode, Case.category, OrgUnit.code)
        .join(OrgUnit, OrgUnit.id == Case.org_unit_id)
        .where(visible_condition(p), period.condition(Case.opened_at))
        .order_by(Case.id)
        .limit(CASE_BATCH)
    )
    after = 0
    while True:
        batch = db.session.execute(cases.where(Case.id > after)).all()
        if not batch:
            break
        ids = [row[0] for row in batch]
        events: dict[int, list[Any]] = {}
        for ev in db.session.execute(
            select(
                CaseEvent.case_id,
                CaseEvent.seq,
                CaseEvent.type,
                CaseEvent.actor,
                CaseEvent.at,
                CaseEvent.data,
            )
            .where(CaseEvent.case_id.in_(ids))
            .order_by(CaseEvent.case_id, CaseEvent.seq)
        ):
            events.setdefault(ev.case_id, []).append(ev)
        tasks = {
            t.id: (t.name, t.bpmn_id, t.role)
            for t in db.session.execute(
                select(HumanTask.id, HumanTask.name, HumanTask.bpmn_id, HumanTask.role).where(
                    HumanTask.case_id.in_(ids)
                )
            )
        }
        end_read()  # before writing the batch out
        yield "".join(_trace(row, xes_events(events.get(row[0], []), tasks)) for row in batch)
        after = ids[-1]
        if len(batch) < CASE_BATCH:
            break
    yield "</log>\n"


def _xes_head() -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<log xes.version="1.0">',
    ]
    lines += [
        f"  <extension name={_q(n)} prefix={_q(p)} uri={_q(u)}/>" for n, p, u in XES_EXTENSIONS
    ]
    lines += [
        '  <global scope="trace">',
        '    <string key="concept:name" value="__INVALID__"/>',
        "  </global>",
        '  <global scope="event">',
        '    <string key="concept:name" value="__INVALID__"/>',
        '    <date key="time:timestamp" value="1970-01-01T00:00:00+00:00"/>',
        '    <string key="lifecycle:transition" value="complete"/>',
        "  </global>",
        '  <classifier name="Activity" keys="concept:name"/>',
        '  <classifier name="ActivityLifecycle" keys="concept:name lifecycle:transition"/>',
        '  <string key="concept:name" value="Gridcase cases 网格通办案件"/>',
        '  <string key="source" value="gridcase audit log"/>',
    ]
    return "\n".join(lines) + "\n"


def _trace(row: Any, events: Iterable[XesEvent]) -> str:
    _, code, status, mode, category, unit = row
    out = ["  <trace>", f'    <string key="concept:name" value={_q(code)}/>']
    for key, value in (
        ("status", status), ("mode", mode), ("category", category), ("org_unit", unit),
    ):  # fmt: skip
        if value is not None:
            out.append(f"    <string key={_q(key)} value={_q(value)}/>")
    for e in events:
        out.append("    <event>")
        out.append(f'      <string key="concept:name" value={_q(e.activity)}/>')
        out.append(f'      <date key="time:timestamp" value={_q(_xes_time(e.at))}/>')
        out.append(f'      <string key="org:resource" value={_q(e.resource)}/>')
        if e.role:
            out.append(f'      <string key="org:role" value={_q(e.role)}/>')
        out.append(f'      <string key="lifecycle:transition" value={_q(e.transition)}/>')
        if e.bpmn_id:
            out.append(f'      <string key="bpmn_id" value={_q(e.bpmn_id)}/>')
        if e.audit_seq is not None:
            out.append(f'      <int key="audit_seq" value="{int(e.audit_seq)}"/>')
        out.append("    </event>")
    out.append("  </trace>\n")
    return "\n".join(out)


def _xes_time(moment: datetime) -> str:
    """xs:dateTime in UTC, milliseconds, with its offset."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _q(value: object) -> str:
    """A quoted, escaped XML attribute value, without characters XML cannot carry."""
    return quoteattr(
        _NOT_XML.sub("\ufffd", str(value)), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
    )
