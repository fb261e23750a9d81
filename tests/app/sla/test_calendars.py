"""Calendars from the database: the seeded national calendar on the real 2025-2026 table, the
coverage report and a year entered by an admin, per-unit calendars up the tree, the cache."""

from __future__ import annotations

import logging
from datetime import date, time

from flask import Flask
from sqlalchemy import delete, event, insert, select, update

from app.database import write_transaction
from app.extensions import db
from app.orgs.calendar_models import Calendar, CalendarDay, CalendarYear, OrgUnitCalendar
from app.orgs.calendars import (
    LoggedCalendar,
    builtin_calendar,
    calendar_for,
    calendar_name_for,
)
from app.sla.calendar_admin import assign_calendar, coverage, create_calendar
from tests.app.admin.support import admin_events
from tests.app.api.support import as_user, problem
from tests.helpers import deploy_simple, open_simple_case
from tests.workflows.test_calendar import DAY_CASES, HOUR_CASES, bj

YEAR_URL = "/api/v1/calendars/national/years/2027"


def _unit(org: dict, code: str):
    return db.session.merge(org["units"][code])


def _put(caller, url: str, json: dict):
    return caller.client.put(url, json=json, headers=caller._headers())


def test_seeded_calendar_lands_on_the_right_minute_around_every_holiday(org: dict) -> None:
    calendar = calendar_for(_unit(org, "G-01"))
    assert isinstance(calendar, LoggedCalendar) and calendar.label == "national"
    for name, start, days, expected in DAY_CASES:
        assert calendar.add_working_days(start, days) == expected, name
    for name, start, hours, expected in HOUR_CASES:
        assert calendar.add_working_hours(start, hours) == expected, name
    assert calendar.covered_years == frozenset(range(2004, 2027))


def test_coverage_names_the_gap_in_the_next_60_days(org: dict) -> None:
    [national] = coverage(today=date(2026, 11, 23))
    assert national["years"] == list(range(2004, 2027))
    assert national["is_default"] and national["missing"] == [2027]
    assert "2027" in national["warning"]
    assert coverage(today=date(2026, 6, 1))[0]["missing"] == []


def test_a_year_without_data_falls_back_to_weekdays_and_logs_once(org: dict, caplog) -> None:
    calendar = calendar_for(_unit(org, "G-01"))
    with caplog.at_level(logging.WARNING, logger="app.sla.calendars"):
        # 2027-01-01 is a Friday: a working day until an admin says otherwise
        assert calendar.add_working_days(bj(2027, 1, 1, 10), 1) == bj(2027, 1, 4, 10)
        assert calendar.add_working_hours(bj(2027, 3, 5, 17), 2) == bj(2027, 3, 8, 10)
    gaps = [r.getMessage() for r in caplog.records if "2027" in r.getMessage()]
    assert len(gaps) == 1 and "national" in gaps[0] and "Monday-Friday" in gaps[0]


def test_admin_enters_a_new_year_over_the_api(app: Flask, org: dict, clock) -> None:
    client = app.test_client()
    admin = as_user(client, "admin")
    body = {"days_off": ["2027-01-01", "2027-02-08", "2027-02-09"], "workdays": ["2027-02-06"]}
    response = admin.post(YEAR_URL, json=body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["last_year"] == 2027
    db.session.rollback()
    calendar = calendar_for(_unit(org, "G-01"))
    assert 2027 in calendar.covered_years
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.is_working_day(date(2027, 2, 6))  # a Saturday 调休
    assert calendar.add_working_days(bj(2026, 12, 31, 10), 1) == bj(2027, 1, 4, 10)
    assert calendar.add_working_days(bj(2027, 2, 5, 10), 1) == bj(2027, 2, 6, 10)
    assert calendar.add_working_days(bj(2027, 2, 6, 10), 1) == bj(2027, 2, 10, 10)
    # entering the year again replaces it
    assert admin.post(YEAR_URL, json={"days_off": ["2027-01-01"]}).status_code == 200
    db.session.rollback()
    assert calendar_for(_unit(org, "G-01")).is_working_day(date(2027, 2, 8))
    # only admins; bad days are named; an unknown calendar is a 404
    problem(as_user(client, "grid1").post(YEAR_URL, json=body), 403)
    problem(as_user(client, "auditor").post(YEAR_URL, json=body), 403)
    errors = problem(admin.post(YEAR_URL, json={"days_off": ["2026-05-01"]}), 422)["errors"]
    assert "days_off" in errors
    errors = problem(admin.post(YEAR_URL, json={"days_off": ["x"]}), 422)["errors"]
    assert any(key.startswith("days_off") for key in errors)
    clash = {"days_off": ["2027-03-06"], "workdays": ["2027-03-06"]}
    assert "workdays" in problem(admin.post(YEAR_URL, json=clash), 422)["errors"]
    problem(admin.post("/api/v1/calendars/nope/years/2027", json=body), 404)
    listed = as_user(client, "grid1").get("/api/v1/calendars").get_json()
    assert [c["name"] for c in listed] == ["national"] and listed[0]["last_year"] == 2027


def test_units_inherit_the_nearest_calendar_up_the_tree(app: Flask, org: dict) -> None:
    with write_transaction():
        create_calendar(
            name="street",
            hours=[["08:30", "12:00"], ["14:00", "17:30"]],
            copy_from="national",
            actor="t",
        )
        create_calendar(name="grid", hours=[["08:00", "20:00"]], actor="t")
        assign_calendar(unit=_unit(org, "S-01"), name="street", actor="t")
        assign_calendar(unit=_unit(org, "G-02"), name="grid", actor="t")
    names = {code: calendar_name_for(_unit(org, code)) for code in ("G-01", "C-01", "G-02", "D-01")}
    assert names == {"G-01": "street", "C-01": "street", "G-02": "grid", "D-01": "national"}
    street = calendar_for(_unit(org, "B-01-1"))
    assert street.hours == ((time(8, 30), time(12)), (time(14), time(17, 30)))
    assert street.covered_years == calendar_for(_unit(org, "D-01")).covered_years
    assert calendar_for(_unit(org, "G-02")).covered_years == frozenset()  # nothing copied
    with write_transaction():
        assign_calendar(unit=_unit(org, "S-01"), name=None, actor="t")
    assert calendar_name_for(_unit(org, "G-01")) == "national"
    assert calendar_name_for(_unit(org, "G-02")) == "grid"
    client = app.test_client()
    admin = as_user(client, "admin")
    response = _put(admin, "/api/v1/calendars/units/G-01", {"calendar": "grid"})
    assert response.status_code == 200, response.get_json()
    assert calendar_name_for(_unit(org, "G-01")) == "grid"
    problem(_put(admin, "/api/v1/calendars/units/G-01", {"calendar": "nope"}), 422)
    problem(_put(admin, "/api/v1/calendars/units/X-99", {"calendar": "grid"}), 404)
    created = admin.post("/api/v1/calendars", json={"name": "dept", "copy_from": "national"})
    assert created.status_code == 201 and created.get_json()["last_year"] == 2026
    problem(admin.post("/api/v1/calendars", json={"name": "dept"}), 422)
    problem(admin.post("/api/v1/calendars", json={"name": "x", "hours": [["18:00", "09:00"]]}), 422)
    problem(admin.post("/api/v1/calendars", json={"name": "y", "tz": "Mars/Olympus"}), 422)


def test_the_unit_of_work_runs_a_case_on_its_units_calendar(org: dict, clock) -> None:
    with write_transaction():
        create_calendar(
            name="late", hours=[["09:00", "12:00"], ["13:30", "20:00"]], actor="t",
            copy_from="national",
        )  # fmt: skip
        assign_calendar(unit=_unit(org, "C-01"), name="late", actor="t")
    deploy_simple()
    case = open_simple_case()
    assert case.due_at.isoformat() == "2025-03-03T12:00:00+00:00"  # 20:00 Beijing
    db.session.rollback()
    from app.core.models import Timer

    # the reminder at half the working time: 09:30 + 4.5 h = 15:30 Beijing
    timer = db.session.scalars(db.select(Timer)).one()
    assert timer.due_at.isoformat() == "2025-03-03T07:30:00+00:00"


def test_an_edit_by_another_process_is_seen_at_the_next_lookup(org: dict) -> None:
    unit = _unit(org, "G-01")
    first = calendar_for(unit)
    assert calendar_for(unit) is first  # nothing changed: the cached calendar
    assert first.is_working_day(date(2025, 3, 4))
    national = db.session.scalar(db.select(Calendar.id))
    with db.engine.begin() as conn:  # another process: nothing here is told
        conn.execute(
            insert(CalendarDay).values(calendar_id=national, day=date(2025, 3, 4), is_workday=False)
        )
        conn.execute(update(Calendar).values(etag="changed-elsewhere"))
    db.session.rollback()
    assert not calendar_for(unit).is_working_day(date(2025, 3, 4))


def test_the_etags_are_checked_once_per_transaction(org: dict) -> None:
    unit = _unit(org, "G-01")
    calendar_for(unit)  # built
    db.session.rollback()
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        for _ in range(5):  # e.g. a page of cases, each with its SLA state
            calendar_for(unit)
        db.session.rollback()
        calendar_for(unit)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert sum("FROM calendars" in s for s in statements) == 2


def test_without_any_calendar_row_the_packaged_one_is_used(org: dict) -> None:
    with write_transaction() as session:
        for table in (OrgUnitCalendar, CalendarDay, CalendarYear, Calendar):
            session.execute(delete(table))
    assert calendar_for(_unit(org, "G-01")) is builtin_calendar()
    assert calendar_name_for(_unit(org, "G-01")) == "built-in"


def test_cli_seed_coverage_extend_create_assign(app: Flask, org: dict, clock) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["calendar", "coverage"])
    assert result.exit_code == 0 and "national (default): years 2004-2026" in result.output
    clock.set(bj(2026, 11, 23, 10))
    result = runner.invoke(args=["calendar", "coverage"])
    assert result.exit_code == 2 and "no holiday schedule for 2027" in result.output
    args = ["calendar", "extend", "national", "2027", "--off", "2027-01-01", "--work", "2027-02-06"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["calendar", "coverage"]).exit_code == 0
    assert "0 years added" in runner.invoke(args=["calendar", "seed"]).output
    bad = runner.invoke(args=["calendar", "extend", "national", "2027", "--off", "2026-01-01"])
    assert bad.exit_code == 1 and "days_off" in bad.output
    created = runner.invoke(args=["calendar", "create", "dept", "--hours", "08:30-17:30"])
    assert created.exit_code == 0, created.output
    assert runner.invoke(args=["calendar", "assign", "D-CITY", "dept"]).exit_code == 0
    db.session.rollback()
    assert calendar_name_for(_unit(org, "D-CITY")) == "dept"
    assert runner.invoke(args=["calendar", "assign", "D-CITY"]).exit_code == 0
    db.session.rollback()
    assert calendar_name_for(_unit(org, "D-CITY")) == "national"
    assert runner.invoke(args=["calendar", "assign", "NOPE", "dept"]).exit_code == 1


def test_every_calendar_change_is_in_the_admin_log(app: Flask, org: dict, clock) -> None:
    """A calendar decides every deadline: who changed which day, from the API or the CLI,
    is in the hash-chained admin log, in the change's transaction; a refused change and a
    change to nothing add no event."""
    client = app.test_client()
    admin = as_user(client, "admin")
    body = {"days_off": ["2027-01-01", "2027-02-08"], "workdays": ["2027-02-06"]}
    assert admin.post(YEAR_URL, json=body).status_code == 200
    assert admin.post("/api/v1/calendars", json={"name": "dept"}).status_code == 201
    assert _put(admin, "/api/v1/calendars/units/D-CITY", {"calendar": "dept"}).status_code == 200
    before = len(admin_events())
    etags = set(db.session.scalars(select(Calendar.etag)))
    problem(admin.post(YEAR_URL, json={"days_off": ["2026-05-01"]}), 422)
    problem(admin.post("/api/v1/calendars", json={"name": "dept"}), 422)
    assert _put(admin, "/api/v1/calendars/units/D-CITY", {"calendar": "dept"}).status_code == 200
    assert len(admin_events()) == before, "refused or unchanged: nothing logged"
    assert set(db.session.scalars(select(Calendar.etag))) == etags, "nor written"
    runner = app.test_cli_runner()
    args = ["calendar", "extend", "national", "2028", "--off", "2028-01-01"]
    assert runner.invoke(args=args).exit_code == 0
    assert runner.invoke(args=["calendar", "assign", "D-CITY"]).exit_code == 0
    logged = [(e.type, e.actor, e.data) for e in admin_events()]
    assert logged[-5:] == [
        (
            "calendar.year_set",
            "admin",
            {
                "calendar": "national",
                "year": 2027,
                "days_off": ["2027-01-01", "2027-02-08"],
                "workdays": ["2027-02-06"],
                "replaced": None,
            },
        ),
        (
            "calendar.created",
            "admin",
            {
                "calendar": "dept",
                "tz": "Asia/Shanghai",
                "hours": [["09:00", "12:00"], ["13:30", "18:00"]],
                "copy_from": None,
                "is_default": False,
            },
        ),
        ("calendar.assigned", "admin", {"unit": "D-CITY", "calendar": "dept", "previous": None}),
        (
            "calendar.year_set",
            "cli",
            {
                "calendar": "national",
                "year": 2028,
                "days_off": ["2028-01-01"],
                "workdays": [],
                "replaced": None,
            },
        ),
        ("calendar.assigned", "cli", {"unit": "D-CITY", "calendar": None, "previous": "dept"}),
    ]
    verified = admin.get("/api/v1/admin/events/verify").get_json()
    assert verified["ok"] is True and verified["broken_at"] is None
