"""SLA commands: ``flask calendar ...`` (seed, coverage, extend a year, create, assign) and
``flask timers ...`` (incidents, retry). Registered by ``app.cli``."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from app.database import write_transaction

calendar_cli = AppGroup("calendar", help="Working-time calendars (holidays, 调休, hours).")
timers_cli = AppGroup("timers", help="Timer incidents: list and retry.")

DAY = click.DateTime(formats=["%Y-%m-%d"])


def _fail(exc: Exception) -> click.ClickException:
    field = getattr(exc, "field", None)
    return click.ClickException(f"{field}: {exc}" if field else str(exc))


@calendar_cli.command("seed")
def seed_command() -> None:
    """Create the national calendar from chinesecalendar (2004-2026); add missing years."""
    from app.sla.calendar_admin import seed_national

    with write_transaction():
        added = seed_national(actor="cli")
    click.echo(f"national calendar: {added} years added")


@calendar_cli.command("coverage")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def coverage_command(as_json: bool) -> None:
    """Which years each calendar covers; warns about the next 60 days (exit 2 if a gap)."""
    from app.sla.calendar_admin import coverage

    rows = coverage()
    if as_json:
        click.echo(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
    for row in [] if as_json else rows:
        years = f"{row['first_year']}-{row['last_year']}" if row["years"] else "none"
        default = " (default)" if row["is_default"] else ""
        units = ", ".join(row["org_units"]) or "-"
        click.echo(f"{row['name']}{default}: years {years}; {row['tz']}; units {units}")
        if row["warning"]:
            click.echo(f"  warning: {row['warning']}", err=True)
    if any(row["warning"] for row in rows):
        raise SystemExit(2)


def _days(values: tuple[datetime, ...]) -> list[date]:
    return [v.date() for v in values]


@calendar_cli.command("extend")
@click.argument("name")
@click.argument("year", type=int)
@click.option("--off", "days_off", multiple=True, type=DAY, help="A weekday off (repeat).")
@click.option("--work", "workdays", multiple=True, type=DAY, help="A weekend 调休 working day.")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON: {"days_off": ["2027-01-01", ...], "workdays": [...]}',
)
def extend_command(
    name: str,
    year: int,
    days_off: tuple[datetime, ...],
    workdays: tuple[datetime, ...],
    path: Path | None,
) -> None:
    """Enter (or replace) YEAR of calendar NAME: its days off and make-up working days."""
    from app.sla.calendar_admin import CalendarError, set_year

    off, work = _days(days_off), _days(workdays)
    if path is not None:
        data: dict[str, Any] = json.loads(path.read_text())
        off += [date.fromisoformat(d) for d in data.get("days_off", [])]
        work += [date.fromisoformat(d) for d in data.get("workdays", [])]
    try:
        with write_transaction():
            set_year(name=name, year=year, days_off=off, workdays=work, actor="cli")
    except CalendarError as exc:
        raise _fail(exc) from exc
    click.echo(f"{name} {year}: {len(set(off))} days off, {len(set(work))} working weekend days")


@calendar_cli.command("create")
@click.argument("name")
@click.option("--tz", default="Asia/Shanghai", show_default=True)
@click.option("--hours", default="09:00-12:00,13:30-18:00", show_default=True)
@click.option("--copy-from", help="Copy the days and years of this calendar.")
def create_command(name: str, tz: str, hours: str, copy_from: str | None) -> None:
    """Create calendar NAME (e.g. a department with other working hours)."""
    from app.sla.calendar_admin import CalendarError, create_calendar

    spec = [part.strip().split("-", 1) for part in hours.split(",") if part.strip()]
    try:
        with write_transaction():
            create_calendar(name=name, actor="cli", tz=tz, hours=spec, copy_from=copy_from)
    except CalendarError as exc:
        raise _fail(exc) from exc
    click.echo(f"calendar {name} created")


@calendar_cli.command("assign")
@click.argument("unit_code")
@click.argument("name", required=False)
def assign_command(unit_code: str, name: str | None) -> None:
    """Give org unit UNIT_CODE calendar NAME (omit NAME: inherit from above again)."""
    from app.orgs.service import get_by_code
    from app.sla.calendar_admin import CalendarError, assign_calendar

    try:
        with write_transaction():
            unit = get_by_code(unit_code)
            if unit is None:
                raise click.ClickException(f"unknown org unit {unit_code!r}")
            assign_calendar(unit=unit, name=name, actor="cli")
    except CalendarError as exc:
        raise _fail(exc) from exc
    click.echo(f"{unit_code}: {name or 'inherited'}")


@timers_cli.command("incidents")
def incidents_command() -> None:
    """Timers whose retries ran out."""
    from app.sla.service import incidents

    rows = incidents()
    for row in rows:
        click.echo(
            f"{row['id']}  {row['case_code']}  {row['bpmn_id']}  due {row['due_at'].isoformat()}"
            f"  retries {row['retries']}  {row['last_error'] or ''}"
        )
    click.echo(f"{len(rows)} incidents")


@timers_cli.command("retry")
@click.argument("timer_ids", nargs=-1)
@click.option("--all", "retry_all", is_flag=True, help="Retry every incident.")
def retry_command(timer_ids: tuple[str, ...], retry_all: bool) -> None:
    """Send incidents back to the scheduler with fresh retries."""
    from app.core.uow import Conflict, NotFound
    from app.sla.service import incidents, retry_incident

    ids = [row["id"] for row in incidents()] if retry_all else list(timer_ids)
    failed = 0
    for timer_id in ids:
        try:
            retry_incident(timer_id, actor="cli")
            click.echo(f"{timer_id}: pending again")
        except (Conflict, NotFound) as exc:
            failed += 1
            click.echo(f"{timer_id}: {exc}", err=True)
    if failed:
        raise SystemExit(1)


def register_sla_cli(app: Flask) -> None:
    app.cli.add_command(calendar_cli)
    app.cli.add_command(timers_cli)
