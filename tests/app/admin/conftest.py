"""The admin tests read the admin log from its first event: the demo seed's calendar (which
is logged, as every calendar change is) is taken out of it first."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete

from app.admin.models import AdminEvent, AdminEventHead
from app.database import write_transaction


@pytest.fixture(autouse=True)
def empty_admin_log(request: pytest.FixtureRequest) -> Any:
    if "org" in request.fixturenames:
        request.getfixturevalue("org")
        with write_transaction() as session:
            session.execute(delete(AdminEvent))
            session.execute(delete(AdminEventHead))
    yield
