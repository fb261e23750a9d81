"""A small driver that makes each process scenario read like a script.

Every action goes through the app's services and the unit of work, on the database, with the
clock moved by hand (never slept):

    s = world.open(intake=..., as_="staff1")
    s.complete("accept", as_="staff1", data={...}, expect_role="community_staff",
               expect_unit="C-01", next=["dispatch"])
    s.advance_to(bj(3, 4, 9, 31), fires=["wait_revisit"])
    s.withdraw("已自行解决")
    s.finish(status="closed", end="end_closed")

- ``complete`` finds the open task (by BPMN id, and org unit when several are open), checks
  who gets it (role, org unit code, due time), then completes it *as that user* through
  ``app.tasks.service.complete``: the user must hold the task's role in its unit (or the call
  is refused) and the data must satisfy the task's JSON Schema form (or it is a 422).
- ``advance_to`` moves the clock to a moment, waking at each pending timer's due time plus one
  second on the way (the scheduler's tick would) and firing it with
  ``app.sla.scheduler.fire_due``; ``fires`` lists the timers expected to fire, in order.
- the driver keeps the script's own log of what happened (event type, actor, subject);
  ``finish`` compares it with the case's audit trail and checks the hash chain.
- after every action the new audit events' ``finished`` entries (``came_from`` → ``bpmn_id``
  of each completed element) feed :data:`REGISTRY`, the flow-coverage registry that the
  coverage test (``test_zz_flow_coverage.py``) reads at the end of the session.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree
from sqlalchemy import select

from app.auth.access import Principal
from app.cases import queries
from app.cases.service import open_case
from app.core import hashchain, uow
from app.core.models import Case, CaseEvent, HumanTask, Timer
from app.database import write_transaction
from app.extensions import db
from app.orgs.models import ROLES, User
from app.orgs.service import create_user, get_by_code, grant
from app.processes.service import deploy
from app.sla.scheduler import fire_due
from app.tasks import service as tasks
from workflows import engine
from workflows.calendar import default_calendar
from workflows.clock import FrozenClock
from workflows.specs import ProcessBundle, load_directory

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
SHANGHAI = ZoneInfo("Asia/Shanghai")
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

# Users the demo tree lacks: the water utility's desk and a resident (wish wall, deliberation).
EXTRA_USERS = [
    ("dept_water", "水务所 钱多 Qian Duo", "department_staff", "D-WATER"),
    ("resident1", "居民 林婷 Lin Ting", "resident", "G-01"),
]


def bj(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A Beijing wall-clock moment in 2025 (the scenarios' year)."""
    return datetime(2025, month, day, hour, minute, second, tzinfo=SHANGHAI)


# -- the shipped processes ----------------------------------------------------------------
@functools.cache
def bundles() -> tuple[ProcessBundle, ...]:
    """Every shipped process, parsed and validated once per session."""
    return tuple(load_directory(BPMN_DIR, roles=ROLES))


def deploy_all() -> None:
    for bundle in bundles():
        deploy(bundle=bundle, actor="designer")


def add_extra_users() -> None:
    with write_transaction():
        for username, display, role, unit_code in EXTRA_USERS:
            unit = get_by_code(unit_code)
            assert unit is not None, unit_code
            user = create_user(username=username, display_name=display)
            grant(user=user, role=role, unit=unit)


@dataclass(frozen=True)
class Flow:
    process: str  # the top-level process (the file's executable process)
    scope: str  # the process or embedded subprocess the flow is drawn in
    id: str
    source: str
    target: str


@functools.cache
def shipped_flows() -> dict[str, tuple[Flow, ...]]:
    """Every sequence flow of every shipped BPMN file, subprocesses included, by process."""
    flows: dict[str, tuple[Flow, ...]] = {}
    for path in sorted(BPMN_DIR.glob("*.bpmn")):
        root = etree.parse(str(path)).getroot()
        for process in root.iterfind(f"{{{BPMN_NS}}}process"):
            pid = process.get("id", "")
            containers = [process, *process.iter(f"{{{BPMN_NS}}}subProcess")]
            flows[pid] = tuple(
                Flow(
                    pid,
                    c.get("id", ""),
                    f.get("id", ""),
                    f.get("sourceRef", ""),
                    f.get("targetRef", ""),
                )
                for c in containers
                for f in c.iterfind(f"{{{BPMN_NS}}}sequenceFlow")
            )
    return flows


@dataclass
class FlowRegistry:
    """What the scenarios took, collected over the whole test session."""

    taken: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)  # scenario test ids that opened a case
    finished: set[str] = field(default_factory=set)  # reached ``finish`` without failing
    selected: set[str] = field(default_factory=set)  # scenario tests selected to run
    deselected: set[str] = field(default_factory=set)  # scenario tests left out (-k, -m)
    expected_to_fail: set[str] = field(default_factory=set)  # scenario tests marked xfail
    collected_files: set[str] = field(default_factory=set)  # paths of test files collected

    def record(self, process: str, events: Iterable[CaseEvent], completed: set[str]) -> None:
        """Note the flows the ``finished`` entries of ``events`` took; ``completed`` holds the
        elements this case has completed so far (updated here)."""
        pairs = self.taken.setdefault(process, set())
        for event in events:
            for done in event.data.get("finished", ()):
                source, target = done.get("came_from"), done["bpmn_id"]
                if done.get("state") == "COMPLETED":
                    completed.add(target)
                    if source:
                        pairs.add((source, target))
                # A parallel join continues from the branch that arrived last and marks the
                # join tasks of the branches that arrived earlier CANCELLED: those flows were
                # taken too, as their source completed. Any other cancelled entry (what a
                # withdrawal or an interrupting event cut off) was only predicted: not taken.
                elif done.get("spec_type") == "ParallelGateway" and source in completed:
                    pairs.add((source, target))

    def covered(self, process: str) -> list[Flow]:
        pairs = self.taken.get(process, set())
        return [f for f in shipped_flows()[process] if (f.source, f.target) in pairs]

    def missing(self, process: str) -> list[Flow]:
        pairs = self.taken.get(process, set())
        return [f for f in shipped_flows()[process] if (f.source, f.target) not in pairs]


REGISTRY = FlowRegistry()


# -- the driver ------------------------------------------------------------------------------
_UNSET: Any = object()


@dataclass(frozen=True)
class Entry:
    """One line of the audit trail as the script expects it."""

    type: str
    actor: str
    subject: str | tuple[str, ...] | None


def _fired_ids(event: CaseEvent) -> tuple[str, ...]:
    """The timers one ``timer.fired`` event fired, earliest due first."""
    fired = sorted(event.data["fired"], key=lambda f: (str(f["due_at"]), f["bpmn_id"]))
    return tuple(f["bpmn_id"] for f in fired)


def _subject(event: CaseEvent) -> str | tuple[str, ...] | None:
    if event.type == "task.completed":
        return str(event.data["task"]["bpmn_id"])
    if event.type == "timer.fired":
        return _fired_ids(event)
    if event.type == "message.received":
        return str(event.data["message"])
    return None


class World:
    """The deployed library, the demo org and the clock, for one test."""

    def __init__(self, clock: FrozenClock, nodeid: str) -> None:
        self.clock = clock
        self.nodeid = nodeid

    def open(
        self,
        *,
        intake: Mapping[str, Any],
        as_: str = "staff1",
        process: str = "resident_request",
        start_data: Mapping[str, Any] | None = None,
    ) -> Scenario:
        """Open a case. ``start_data`` adds process-specific start fields that intake does
        not carry (mediation's ``start_level``)."""
        case = open_case(intake=dict(intake), actor=as_, process_key=process, start_data=start_data)
        REGISTRY.started.add(self.nodeid)
        return Scenario(self, case, process, opened_by=as_)


class Scenario:
    def __init__(self, world: World, case: Case, process: str, *, opened_by: str) -> None:
        self.world = world
        self.clock = world.clock
        self.case_id = case.id
        self.process = process
        self.log: list[Entry] = [Entry("case.opened", opened_by, None)]
        self.sequence: list[tuple[str, str | None, str, str]] = []  # bpmn id, role, unit, actor
        self._seen = 0
        self._completed: set[str] = set()
        self._feed()

    # -- reading --------------------------------------------------------------------------
    @property
    def case(self) -> Case:
        db.session.rollback()  # a fresh snapshot: SQLite keeps the old one until the read ends
        case = db.session.get(Case, self.case_id)
        assert case is not None
        return case

    def open_tasks(self) -> list[HumanTask]:
        db.session.rollback()
        return list(
            db.session.scalars(
                select(HumanTask)
                .where(HumanTask.case_id == self.case_id, HumanTask.status == "open")
                .order_by(HumanTask.bpmn_id, HumanTask.created_at)
            )
        )

    def open_ids(self) -> list[str]:
        """Open tasks as ``bpmn_id`` or ``bpmn_id@UNIT`` for department tasks, sorted."""
        return sorted(
            f"{t.bpmn_id}@{t.org_unit.code}" if t.role == "department_staff" else t.bpmn_id
            for t in self.open_tasks()
        )

    def task_statuses(self, bpmn_id: str, unit: str | None = None) -> list[str]:
        """The status of every task row ``bpmn_id`` ever had (in org unit ``unit``), oldest
        first."""
        db.session.rollback()
        rows = db.session.scalars(
            select(HumanTask)
            .where(HumanTask.case_id == self.case_id, HumanTask.bpmn_id == bpmn_id)
            .order_by(HumanTask.created_at, HumanTask.id)
        )
        return [t.status for t in rows if unit is None or t.org_unit.code == unit]

    def timers(self) -> list[tuple[str, datetime]]:
        db.session.rollback()
        rows = db.session.scalars(select(Timer).where(Timer.case_id == self.case_id))
        return sorted(((t.bpmn_id, t.due_at) for t in rows), key=lambda x: (x[1], x[0]))

    def events(self) -> list[CaseEvent]:
        db.session.rollback()
        return list(
            db.session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == self.case_id).order_by(CaseEvent.seq)
            )
        )

    def audited(self, bpmn_id: str) -> dict[str, Any]:
        """What the latest completion of ``bpmn_id`` changed in the data, as the audit trail
        records it (notification scripts write only in their own branch: reminders, chases
        and flags are read here, not in the case's data)."""
        for event in reversed(self.events()):
            for done in reversed(event.data.get("finished", ())):
                if done["bpmn_id"] == bpmn_id and done["state"] == "COMPLETED":
                    return dict(done["data"])
        raise AssertionError(f"{bpmn_id} never completed")

    @property
    def data(self) -> dict[str, Any]:
        """The instance's current data, as the case row's projection reads it."""
        row = self.case.instance
        assert row is not None
        instance = engine.load_instance(
            uow.version_spec(row.version), row.state, calendar=default_calendar()
        )
        return instance.data

    def task(self, bpmn_id: str, unit: str | None = None) -> HumanTask:
        found = [
            t
            for t in self.open_tasks()
            if t.bpmn_id == bpmn_id and (unit is None or t.org_unit.code == unit)
        ]
        assert len(found) == 1, (
            f"expected one open {bpmn_id}{'@' + unit if unit else ''}, open: {self.open_ids()}"
        )
        return found[0]

    # -- expectations ---------------------------------------------------------------------
    def expect_open(self, *expected: str) -> None:
        assert self.open_ids() == sorted(expected)

    def expect_timers(self, *expected: tuple[str, datetime]) -> None:
        """The case's pending timers, exactly: (bpmn id, due) pairs in any order."""
        actual = self.timers()
        want = sorted(expected, key=lambda x: (x[1], x[0]))
        assert actual == want, f"timers {_show(actual)} != expected {_show(want)}"

    def expect_case(
        self,
        *,
        stage: str | None = None,
        status: str | None = None,
        mode: str | None = _UNSET,
        due: datetime | None = _UNSET,
        priority: int | None = None,
    ) -> None:
        case = self.case
        if stage is not None:
            assert case.stage == stage, (case.stage, stage)
        if status is not None:
            assert case.status == status, (case.status, status)
        if mode is not _UNSET:
            assert case.mode == mode, (case.mode, mode)
        if due is not _UNSET:
            assert case.due_at == due, (_fmt(case.due_at), _fmt(due))
        if priority is not None:
            assert case.priority == priority, (case.priority, priority)

    def expect_data(self, **expected: Any) -> None:
        data = self.data
        actual = {k: data.get(k) for k in expected}
        assert actual == expected

    # -- acting ---------------------------------------------------------------------------
    def complete(
        self,
        bpmn_id: str,
        *,
        as_: str,
        data: Mapping[str, Any] | None = None,
        unit: str | None = None,
        expect_role: str | None = None,
        expect_unit: str | None = None,
        expect_due: datetime | None = _UNSET,
        next: Sequence[str] | None = None,
    ) -> None:
        """Complete the open task ``bpmn_id`` (in org unit ``unit`` when several are open)
        as user ``as_``, after checking who gets it; ``next`` is the open tasks after."""
        task = self.task(bpmn_id, unit)
        role, code = task.role, task.org_unit.code
        if expect_role is not None:
            assert role == expect_role, (bpmn_id, role, expect_role)
        if expect_unit is not None:
            assert code == expect_unit, (bpmn_id, code, expect_unit)
        if expect_due is not _UNSET:
            assert task.due_at == expect_due, (bpmn_id, _fmt(task.due_at), _fmt(expect_due))
        user = db.session.scalar(select(User).where(User.username == as_))
        assert user is not None, f"no user {as_}"
        tasks.complete(Principal.of(user), task.id, dict(data or {}))
        self.sequence.append((bpmn_id, role, code, as_))
        self.log.append(Entry("task.completed", as_, bpmn_id))
        self._feed()
        if next is not None:
            self.expect_open(*next)

    def withdraw(self, reason: str, *, as_: str = "staff1") -> None:
        """The resident withdraws; a caseworker records it (the message ``resident_withdrawal``)."""
        user = db.session.scalar(select(User).where(User.username == as_))
        assert user is not None
        queries.withdraw(Principal.of(user), self.case_id, reason)
        self.log.append(Entry("message.received", as_, "resident_withdrawal"))
        self._feed()

    def advance(self, **delta: float) -> None:
        """Move the clock on by ``timedelta(**delta)``; no timer may fall due meanwhile."""
        self.advance_to(self.clock.now() + timedelta(**delta))

    def advance_to(self, moment: datetime, *, fires: Sequence[str] = ()) -> None:
        """Move the clock to ``moment``, firing each timer that falls due on the way one
        second after its due time (as the scheduler's tick would); ``fires`` lists the
        timers expected to fire, in order."""
        assert moment >= self.clock.now(), "the clock only moves forward"
        fired: list[str] = []
        while True:
            db.session.rollback()
            pending = db.session.scalars(
                select(Timer)
                .where(
                    Timer.case_id == self.case_id,
                    Timer.status == "pending",
                    Timer.due_at < moment,
                )
                .order_by(Timer.due_at)
            ).first()
            if pending is None:
                break
            self.clock.set(max(self.clock.now(), pending.due_at + timedelta(seconds=1)))
            seen = self._seen
            assert fire_due(owner="scenario") >= 1, f"timer {pending.bpmn_id} did not fire"
            failed = [
                (t.bpmn_id, t.last_error)
                for t in db.session.scalars(select(Timer).where(Timer.case_id == self.case_id))
                if t.last_error
            ]
            assert not failed, f"timers failed: {failed}"
            for event in self.events()[seen:]:
                assert event.type == "timer.fired", event.type
                ids = _fired_ids(event)
                fired.extend(ids)
                self.log.append(Entry("timer.fired", "scheduler", ids))
            self._feed()
        self.clock.set(moment)
        assert fired == list(fires), f"fired {fired}, expected {list(fires)}"

    def finish(self, *, status: str, end: str, stage: str = "closed") -> None:
        """The case has ended at ``end``: closed row, no open task, no timer; the audit trail
        is exactly the script's log and its hash chain is whole."""
        case = self.case
        assert (case.status, case.stage) == (status, stage)
        assert case.closed_at is not None
        assert self.open_ids() == []
        assert self.timers() == []
        trail = self.events()
        assert [Entry(e.type, e.actor, _subject(e)) for e in trail] == self.log
        assert trail[-1].data["ended_at"] == end
        assert hashchain.first_broken(trail) is None
        REGISTRY.finished.add(self.world.nodeid)

    # -- internals ------------------------------------------------------------------------
    def _feed(self) -> None:
        events = self.events()
        REGISTRY.record(self.process, events[self._seen :], self._completed)
        self._seen = len(events)


def _fmt(moment: datetime | None) -> str | None:
    return moment.astimezone(SHANGHAI).isoformat() if moment else None


def _show(timers: Iterable[tuple[str, datetime]]) -> list[tuple[str, str | None]]:
    return [(bpmn_id, _fmt(due)) for bpmn_id, due in timers]
