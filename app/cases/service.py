"""Cases: intake from every channel, and reading a case back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.core import uow
from app.core.models import Case
from app.orgs.service import get_by_code
from app.processes.service import latest_version

MAIN_PROCESS = "resident_request"


class IntakeError(ValueError):
    """Bad intake data; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def open_case(
    *,
    intake: Mapping[str, Any],
    actor: str,
    process_key: str = MAIN_PROCESS,
    start_data: Mapping[str, Any] | None = None,
) -> Case:
    """Open a case from validated intake fields and start its process on the newest version.

    ``start_data`` adds process-specific start fields that intake does not carry (e.g. the
    mediation ladder's ``start_level``); they cannot replace an intake field.
    """
    unit = get_by_code(intake["org_unit"])
    if unit is None:
        raise IntakeError("org_unit", f"unknown org unit {intake['org_unit']!r}")
    version = latest_version(process_key)
    if version is None:
        raise IntakeError("process", f"process {process_key!r} is not deployed")
    resident = dict(intake.get("resident") or {})
    case = Case(
        title=intake["title"],
        description=intake.get("description", ""),
        category=intake["category"],
        request_type=intake["request_type"],
        channel=intake["channel"],
        address=intake.get("address", ""),
        reporter=dict(intake.get("reporter") or {}),
        resident=resident,
        urgent=bool(intake.get("urgent", False)),
        org_unit_id=unit.id,
        org_unit=unit,
    )
    data = {
        "title": case.title,
        "description": case.description,
        "category": case.category,
        "request_type": case.request_type,
        "channel": case.channel,
        "urgent": case.urgent,
        "resident_age": resident.get("age"),
        "resident_mobility": resident.get("mobility", "normal"),
        "resident_vulnerable": bool(resident.get("vulnerable", False)),
        "requested_mode": intake.get("mode"),
        "org_unit": unit.code,
    }
    data = {**(start_data or {}), **data}
    return uow.start_case(version=version, case=case, data=data, actor=actor)
