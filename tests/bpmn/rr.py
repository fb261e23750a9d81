"""Intake and form payloads for the resident_request (群众诉求) scenarios.

The choices are those of the raw-engine walks the process designer used to draw the process;
every payload satisfies the task's JSON Schema form (the driver submits it through the same
validation as the API).
"""

from __future__ import annotations

from typing import Any

from tests.bpmn.scenario import Scenario, bj

# Who gets what, by default, for a case opened in grid G-01 (community C-01, street S-01).
STAFF = {"expect_role": "community_staff", "expect_unit": "C-01"}
LEADER = {"expect_role": "community_leader", "expect_unit": "C-01"}
GRID = {"expect_role": "grid_worker", "expect_unit": "G-01"}
STREET = {"expect_role": "street_dispatcher", "expect_unit": "S-01"}
SUPERVISOR = {"expect_role": "supervisor", "expect_unit": "S-01"}


def dept(code: str) -> dict[str, str]:
    return {"expect_role": "department_staff", "expect_unit": code, "unit": code}


def intake(**overrides: Any) -> dict[str, Any]:
    resident = {"age": 45, "mobility": "normal", "vulnerable": False}
    resident.update(overrides.pop("resident", {}))
    data = {
        "title": "楼道灯坏了 Stairwell light out",
        "description": "3号楼2单元楼道灯不亮",
        "category": "0402",
        "request_type": "help",
        "channel": "resident_online",
        "org_unit": "G-01",
        "resident": resident,
    }
    data.update(overrides)
    return data


def accept(*, on_spot: bool = False, depts: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "summary": "楼道灯不亮",
        "solvable_on_spot": on_spot,
        "needs_departments": depts,
        "front_desk_action": "dispatch",
        **extra,
    }


def dispatch(mode: str, reason: str | None = None) -> dict[str, Any]:
    return {"mode": mode} if reason is None else {"mode": mode, "override_reason": reason}


REVIEW_OK = {"review_decision": "approve"}
REVIEW_NO = {"review_decision": "reject", "reject_reason": "照片不清楚, 请补充整改证据"}
IMMEDIATE = {"result_summary": "已更换灯泡"}
PROXY_COLLECT = {"materials": ["身份证复印件", "户口本"]}
PROXY_HANDLE = {"office_result": "已在社保窗口代为办理"}
PROXY_DELIVER = {"delivery_method": "in_person", "result_summary": "结果已送达本人"}


def revisit(satisfaction: str = "satisfied") -> dict[str, Any]:
    data: dict[str, Any] = {
        "revisit_method": "phone",
        "resolved": satisfaction != "unsatisfied",
        "satisfaction": satisfaction,
    }
    if satisfaction == "unsatisfied":
        data["unsatisfied_reason"] = "灯又坏了"
    return data


def review_and_revisit(
    s: Scenario,
    *,
    review_at: tuple[int, int, int, int],
    revisit_at: tuple[int, int, int, int],
    satisfaction: str = "satisfied",
    expect_due: Any = None,
) -> None:
    """审单 approve at ``review_at``; 回访 opens the next working day at the same clock time
    (``revisit_at``, computed by hand in each scenario) and closes the case."""
    s.advance_to(bj(*review_at))
    s.complete("review", as_="leader1", data=REVIEW_OK, **LEADER, next=[])
    s.expect_timers(("wait_revisit", bj(*revisit_at)))
    s.advance_to(bj(*revisit_at, 1), fires=["wait_revisit"])
    s.expect_case(stage="revisit")
    s.advance(minutes=29)
    kwargs = {} if expect_due is None else {"expect_due": expect_due}
    s.complete("revisit", as_="staff1", data=revisit(satisfaction), **STAFF, **kwargs, next=[])
