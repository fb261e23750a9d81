"""Exports over HTTP: the audit events as CSV and the cases as IEEE 1849 XES, scoped, by period,
streamed in batches."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from werkzeug.test import TestResponse

from app.core.hashchain import event_hash
from app.reports import exports
from tests.app.api.support import Caller, as_user, open_case, prepare, problem
from tests.helpers import DATA

CSV_URL = "/api/v1/export/events.csv"
XES_URL = "/api/v1/export/cases.xes"
TASKS = "/api/v1/tasks"
XSD = etree.XMLSchema(etree.parse(str(DATA / "xes" / "xes-ieee-1849-2016.xsd")))


@pytest.fixture
def client(app: Flask, org: dict, clock) -> FlaskClient:
    return prepare(app)


def _rows(response: TestResponse) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode()), "Excel needs the UTF-8 byte-order mark"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def _xes(response: TestResponse) -> Any:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/xml"
    doc = etree.fromstring(response.get_data())
    assert XSD.validate(doc), XSD.error_log
    return doc


def _traces(doc: Any) -> dict[str, list[dict[str, str]]]:
    """{case code: [{key: value} per event]} from an XES document."""
    out: dict[str, list[dict[str, str]]] = {}
    for trace in doc.iterfind("trace"):
        name = trace.find("string[@key='concept:name']").get("value")
        out[name] = [
            {a.get("key"): a.get("value") for a in event} for event in trace.iterfind("event")
        ]
    return out


def _walk(grid1: Caller, leader: Caller) -> dict[str, Any]:
    """A case through claim, complete (grid1) and the review (leader1): closed."""
    case = open_case(grid1)
    handle = case["tasks"][0]["id"]
    assert grid1.post(f"{TASKS}/{handle}/claim").status_code == 200
    done = grid1.post(f"{TASKS}/{handle}/complete", json={"data": {"result": "换了灯泡"}})
    review = done.get_json()["tasks"][0]["id"]
    closed = leader.post(f"{TASKS}/{review}/complete", json={"data": {"approved": True}})
    assert closed.get_json()["status"] == "closed"
    return case


# -- CSV ----------------------------------------------------------------------------------------


def test_csv_has_every_event_of_the_visible_cases_in_chain_order(client: FlaskClient) -> None:
    grid1, grid2 = as_user(client, "grid1"), as_user(client, "grid2")
    mine = _walk(grid1, as_user(client, "leader1"))
    other = open_case(grid2, org_unit="G-02", title="楼道堆物")

    rows = _rows(grid1.get(CSV_URL))
    assert list(rows[0]) == list(exports.CSV_COLUMNS)
    assert [(r["case_code"], r["seq"], r["type"], r["actor"]) for r in rows] == [
        (mine["code"], "1", "case.opened", "grid1"),
        (mine["code"], "2", "task.claimed", "grid1"),
        (mine["code"], "3", "task.completed", "grid1"),
        (mine["code"], "4", "task.completed", "leader1"),
    ]
    assert json.loads(rows[2]["data"])["input"] == {"result": "换了灯泡"}
    assert json.loads(rows[0]["data"])["input"]["title"] == "路灯不亮 Street light out"
    assert rows[0]["at"] == "2025-03-03T01:30:00+00:00"  # ISO 8601 with offset

    everyone = _rows(as_user(client, "auditor").get(CSV_URL))
    assert {r["case_code"] for r in everyone} == {mine["code"], other["code"]}
    assert _rows(as_user(client, "admin").get(CSV_URL)) == everyone
    assert {r["case_code"] for r in _rows(grid2.get(CSV_URL))} == {other["code"]}
    assert _rows(as_user(client, "dept_city").get(CSV_URL)) == []  # the header only


def test_csv_rows_carry_what_recomputes_the_hash_chain(client: FlaskClient) -> None:
    _walk(as_user(client, "grid1"), as_user(client, "leader1"))
    rows = _rows(as_user(client, "auditor").get(CSV_URL))
    previous = "0" * 64
    for row in rows:
        assert row["prev_hash"] == previous
        digest = event_hash(
            case_id=int(row["case_id"]),
            seq=int(row["seq"]),
            type=row["type"],
            actor=row["actor"],
            at=datetime.fromisoformat(row["at"]),
            data=json.loads(row["data"]),
            prev_hash=row["prev_hash"],
        )
        assert digest == row["hash"], row["seq"]
        previous = row["hash"]


def test_csv_period_takes_events_by_their_time(client: FlaskClient, clock) -> None:
    grid1 = as_user(client, "grid1")
    first = open_case(grid1)  # Monday 3 March, 09:30 Beijing
    clock.advance(timedelta(days=1))
    grid1 = as_user(client, "grid1")  # a fresh token: the first one expired
    second = open_case(grid1, title="第二件")  # Tuesday 4 March
    handle = first["tasks"][0]["id"]
    assert grid1.post(f"{TASKS}/{handle}/claim").status_code == 200  # Tuesday, first case

    def codes(query: str) -> list[tuple[str, str]]:
        return [(r["case_code"], r["type"]) for r in _rows(grid1.get(f"{CSV_URL}?{query}"))]

    assert codes("to=2025-03-03") == [(first["code"], "case.opened")]
    assert codes("from=2025-03-04") == [
        (first["code"], "task.claimed"),
        (second["code"], "case.opened"),
    ]
    assert codes("from=2025-03-04T09:30:00%2B08:00&to=2025-03-04T09:30:00.001%2B08:00") == [
        (first["code"], "task.claimed"),
        (second["code"], "case.opened"),
    ]
    assert codes("from=2025-03-05") == []
    # An unencoded "+" in the offset arrives as a space: still read as +08:00.
    assert codes("to=2025-03-03T09:30:00.001+08:00") == [(first["code"], "case.opened")]


def test_csv_streams_in_batches_without_losing_or_repeating_a_row(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid1, leader = as_user(client, "grid1"), as_user(client, "leader1")
    for _ in range(3):
        _walk(grid1, leader)
    whole = _rows(grid1.get(CSV_URL))
    monkeypatch.setattr(exports, "EVENT_BATCH", 3)  # 12 events: batches end mid-case
    response = grid1.get(CSV_URL)
    assert response.is_streamed
    assert _rows(response) == whole and len(whole) == 12
    keys = [(r["case_id"], int(r["seq"])) for r in whole]
    assert keys == sorted(keys) and len(set(keys)) == 12


# -- XES ----------------------------------------------------------------------------------------


def test_xes_is_valid_ieee_1849_with_one_trace_per_case(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    case = _walk(grid1, as_user(client, "leader1"))
    doc = _xes(grid1.get(XES_URL))
    prefixes = {e.get("prefix") for e in doc.iterfind("extension")}
    assert prefixes == {"concept", "time", "org", "lifecycle"}
    traces = _traces(doc)
    assert list(traces) == [case["code"]]
    steps = [
        (e["concept:name"], e["lifecycle:transition"], e["org:resource"])
        for e in traces[case["code"]]
    ]
    assert steps == [
        ("Set due", "complete", "grid1"),
        ("办理 Handle", "schedule", "grid1"),
        ("办理 Handle", "assign", "grid1"),
        ("办理 Handle", "complete", "grid1"),
        ("审单 Review", "schedule", "grid1"),
        ("审单 Review", "complete", "leader1"),
        ("Mark closed", "complete", "leader1"),
    ]
    events = traces[case["code"]]
    assert events[3]["org:role"] == "grid_worker" and events[5]["org:role"] == "community_leader"
    times = [datetime.fromisoformat(e["time:timestamp"]) for e in events]
    assert times == sorted(times) and times[0].utcoffset() == timedelta(0)
    broken = etree.fromstring(grid1.get(XES_URL).get_data())
    broken.find("trace/event/date").set("value", "yesterday")
    assert not XSD.validate(broken)  # the schema check is a real one


def test_xes_records_releases_reassignments_and_cancelled_tasks(client: FlaskClient) -> None:
    grid1, leader = as_user(client, "grid1"), as_user(client, "leader1")
    case = open_case(grid1)
    handle = case["tasks"][0]["id"]
    assert grid1.post(f"{TASKS}/{handle}/claim").status_code == 200
    assert grid1.post(f"{TASKS}/{handle}/unclaim").status_code == 200
    assigned = leader.post(f"{TASKS}/{handle}/assign", json={"username": "grid1"})
    assert assigned.status_code == 200, assigned.get_json()
    withdrawn = grid1.post(f"/api/v1/cases/{case['id']}/withdraw", json={"reason": "已自行解决"})
    assert withdrawn.get_json()["status"] == "withdrawn"
    [events] = _traces(_xes(grid1.get(XES_URL))).values()
    steps = [(e["concept:name"], e["lifecycle:transition"], e["org:resource"]) for e in events]
    assert steps[2:] == [
        ("办理 Handle", "assign", "grid1"),
        ("办理 Handle", "reassign", "grid1"),  # released
        ("办理 Handle", "assign", "leader1"),
        ("Withdrawn", "complete", "grid1"),
        ("Mark withdrawn", "complete", "grid1"),
        ("办理 Handle", "ate_abort", "grid1"),
    ]


def test_xes_scope_and_period_follow_the_cases(client: FlaskClient, clock) -> None:
    grid1 = as_user(client, "grid1")
    first = open_case(grid1)
    clock.advance(timedelta(days=1))
    grid1, grid2 = as_user(client, "grid1"), as_user(client, "grid2")  # fresh tokens
    second = open_case(grid1, title="第二件")
    other = open_case(grid2, org_unit="G-02")
    handle = first["tasks"][0]["id"]
    assert grid1.post(f"{TASKS}/{handle}/claim").status_code == 200  # on day 2

    assert list(_traces(_xes(grid1.get(XES_URL)))) == [first["code"], second["code"]]
    assert list(_traces(_xes(grid2.get(XES_URL)))) == [other["code"]]
    auditor = as_user(client, "auditor")
    assert len(_traces(_xes(auditor.get(XES_URL)))) == 3
    day_one = _traces(_xes(grid1.get(f"{XES_URL}?from=2025-03-03&to=2025-03-03")))
    assert list(day_one) == [first["code"]]
    assert day_one[first["code"]][-1]["lifecycle:transition"] == "assign"  # the whole trace
    assert _traces(_xes(grid1.get(f"{XES_URL}?from=2025-03-05"))) == {}


def test_xes_streams_traces_in_batches(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid1, leader = as_user(client, "grid1"), as_user(client, "leader1")
    for _ in range(3):
        _walk(grid1, leader)
    whole = grid1.get(XES_URL).get_data()
    monkeypatch.setattr(exports, "CASE_BATCH", 2)
    response = grid1.get(XES_URL)
    assert response.is_streamed
    assert response.get_data() == whole
    assert len(_traces(_xes(response))) == 3


# -- both ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [CSV_URL, XES_URL])
def test_bad_periods_are_422_naming_the_field(client: FlaskClient, url: str) -> None:
    auditor = as_user(client, "auditor")
    body = problem(auditor.get(f"{url}?from=2025-02-30"), 422)
    assert set(body["errors"]) == {"from"}
    body = problem(auditor.get(f"{url}?from=2025-03-01T08:00:00"), 422)  # no offset
    assert set(body["errors"]) == {"from"} and "offset" in body["errors"]["from"][0]
    body = problem(auditor.get(f"{url}?from=2025-03-05&to=2025-03-01"), 422)
    assert set(body["errors"]) == {"to"}
    body = problem(auditor.get(f"{url}?to=soon"), 422)
    assert set(body["errors"]) == {"to"}
    body = problem(auditor.get(f"{url}?from=0001-01-01&to=9999-12-31"), 422)  # not in UTC
    assert set(body["errors"]) == {"from", "to"}
    problem(client.get(url), 401)
