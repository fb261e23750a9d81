"""Case attachments over HTTP: the content-addressed store, type and size limits checked
from the content, safe file names, downloads, and who may upload."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.cases.notes import clean_filename
from app.core.models import CaseAttachment
from app.extensions import db
from tests.app.api.support import Caller, as_user, event_count, open_case, prepare, problem

CASES = "/api/v1/cases"


def png(width: int = 1, extra: int = 0) -> bytes:
    """A real PNG (a grey strip), padded with a text chunk to ``extra`` more bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\x80" * width)
    padding = chunk(b"tEXt", b"c\x00" + b"x" * extra) if extra else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + padding
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "attachments"


@pytest.fixture
def client(app: Flask, org: dict, clock, store: Path) -> FlaskClient:
    app.config["ATTACHMENT_DIR"] = str(store)
    return prepare(app)


def upload(caller: Caller, case_id: int, content: bytes, name: str) -> TestResponse:
    return caller.post(
        f"{CASES}/{case_id}/attachments",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def stored_files(store: Path) -> list[Path]:
    """The files under a hash (temporary upload files would show up here too)."""
    return sorted(p for p in store.rglob("*") if p.is_file()) if store.exists() else []


def fetch(caller: Caller, url: str) -> TestResponse:
    """GET a download, read it whole and close the file behind it."""
    response = caller.get(url)
    response.get_data()
    response.close()
    return response


def rows() -> list[CaseAttachment]:
    db.session.rollback()  # a fresh snapshot
    return list(db.session.scalars(db.select(CaseAttachment).order_by(CaseAttachment.id)))


def test_an_upload_is_stored_under_its_hash_audited_and_downloaded_whole(
    client: FlaskClient, store: Path
) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    photo = png(width=40)
    digest = hashlib.sha256(photo).hexdigest()
    response = upload(grid1, case_id, photo, "现场照片.png")
    assert response.status_code == 201, response.get_json()
    item = response.get_json()
    assert item["filename"] == "现场照片.png" and item["content_type"] == "image/png"
    assert item["size"] == len(photo) and item["sha256"] == digest
    assert item["uploaded_by"] == "grid1"
    assert stored_files(store) == [store / digest[:2] / digest]
    assert (store / digest[:2] / digest).read_bytes() == photo

    assert grid1.get(f"{CASES}/{case_id}/attachments").get_json() == [item]
    events = grid1.get(f"{CASES}/{case_id}/events").get_json()
    assert events[-1]["type"] == "attachment.added" and events[-1]["actor"] == "grid1"
    assert events[-1]["data"] == {
        "attachment": {
            "id": item["id"],
            "filename": "现场照片.png",
            "content_type": "image/png",
            "size": len(photo),
            "sha256": digest,
        }
    }
    assert grid1.get(f"{CASES}/{case_id}/events/verify").get_json()["ok"] is True

    download = fetch(grid1, item["url"])
    assert download.status_code == 200 and download.data == photo
    assert download.mimetype == "image/png"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('现场照片.png')}" in disposition
    assert "private" in download.headers["Cache-Control"]


def test_identical_content_is_stored_once(client: FlaskClient, store: Path) -> None:
    grid1 = as_user(client, "grid1")
    first_case, second_case = open_case(grid1)["id"], open_case(grid1)["id"]
    first = upload(grid1, first_case, PDF, "整改报告.pdf").get_json()
    before = event_count()
    again = upload(grid1, first_case, PDF, "重传.pdf")  # a phone retrying the same upload
    assert again.status_code == 200 and again.get_json() == first
    assert event_count() == before
    other = upload(grid1, second_case, PDF, "整改报告.pdf")
    assert other.status_code == 201 and other.get_json()["id"] != first["id"]
    assert other.get_json()["sha256"] == first["sha256"]
    assert [r.case_id for r in rows()] == [first_case, second_case]
    assert len(stored_files(store)) == 1
    assert fetch(grid1, other.get_json()["url"]).data == PDF


def test_an_oversized_file_is_refused_and_nothing_is_kept(
    app: Flask, client: FlaskClient, store: Path
) -> None:
    app.config["ATTACHMENT_MAX_BYTES"] = 4096
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    before = event_count()
    # over the limit but within the request cap: counted while reading, whatever it claims
    body = problem(upload(grid1, case_id, png(extra=5000), "大图.png"), 413)
    assert set(body["errors"]) == {"file"}
    # far over: refused by the request cap before the body is read
    problem(upload(grid1, case_id, png(extra=200_000), "更大.png"), 413)
    assert rows() == [] and event_count() == before and stored_files(store) == []
    exactly = png(extra=4096 - len(png(extra=1)) + 1)
    assert len(exactly) == 4096
    assert upload(grid1, case_id, exactly, "刚好.png").status_code == 201


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (EXE, "photo.png", "application/x-msdownload"),  # a program renamed .png
        (HTML, "photo.png", "unknown"),  # a page renamed .png (would run script if served)
        (JPEG, "photo.png", ".png"),  # a real photo whose name lies
        (PDF, "report.html", ".html"),
        (b"", "empty.jpg", "empty"),
    ],
)
def test_the_type_comes_from_the_content(
    client: FlaskClient, store: Path, content: bytes, name: str, message: str
) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    before = event_count()
    body = problem(upload(grid1, case_id, content, name), 422)
    assert set(body["errors"]) == {"file"} and message in body["errors"]["file"][0]
    assert rows() == [] and event_count() == before and stored_files(store) == []


def test_a_missing_file_field_is_named(client: FlaskClient) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    response = grid1.post(
        f"{CASES}/{case_id}/attachments", data={}, content_type="multipart/form-data"
    )
    assert set(problem(response, 422)["errors"]) == {"file"}


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/现场照片.jpg", "现场照片.jpg"),
        ("C:/Users/王芳/照片.JPG", "照片.JPG"),
        ("a<b>:c|?*.jpg", "a_b__c___.jpg"),
        ("..", "附件.jpg"),
        ("IMG_0001", "IMG_0001.jpg"),
        ("报告.v2", "报告.v2.jpg"),
        ("evil\u202egpj.exe", None),
        ("\x1bbad\x7fname.jpg", "badname.jpg"),
        ("长" * 300 + ".jpeg", "长" * 115 + ".jpeg"),
    ],
)
def test_file_names_are_made_safe_and_keep_chinese(
    client: FlaskClient, given: str, kept: str | None
) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    response = upload(grid1, case_id, JPEG, given)
    if kept is None:  # the right-to-left override gone, ".exe" shows: it does not match
        assert "file" in problem(response, 422)["errors"]
        return
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["filename"] == kept


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("C:\\Users\\王芳\\照片.JPG", "照片.JPG"),  # an old browser's full Windows path
        ('x"y".pdf', "x_y_.pdf"),
        ("line\r\nbreak\x00.pdf", "linebreak.pdf"),
        ("  . hidden.pdf ", "hidden.pdf"),
        ("cafe\u0301.pdf", "café.pdf"),  # one form (NFC) for the same name
    ],
)
def test_names_the_http_client_cannot_send_are_cleaned_too(given: str, kept: str) -> None:
    assert clean_filename(given) == kept


def test_only_users_of_the_case_unit_upload_and_auditors_only_read(
    client: FlaskClient, store: Path
) -> None:
    grid1 = as_user(client, "grid1")
    case_id, other_case = open_case(grid1)["id"], open_case(grid1)["id"]
    item = upload(grid1, case_id, JPEG, "a.jpg").get_json()
    before = event_count()
    url = f"{CASES}/{case_id}/attachments"
    for outsider in ("grid2", "dept_city"):
        caller = as_user(client, outsider)
        problem(upload(caller, case_id, PDF, "x.pdf"), 404)
        problem(caller.get(url), 404)
        problem(caller.get(item["url"]), 404)
    auditor = as_user(client, "auditor")
    problem(upload(auditor, case_id, PDF, "x.pdf"), 403)
    assert [a["id"] for a in auditor.get(url).get_json()] == [item["id"]]
    assert fetch(auditor, item["url"]).data == JPEG
    problem(grid1.get(f"{CASES}/{other_case}/attachments/{item['id']}"), 404)
    problem(grid1.get(f"{CASES}/{case_id}/attachments/999999"), 404)
    assert event_count() == before and len(stored_files(store)) == 1
    assert upload(as_user(client, "leader1"), case_id, PDF, "x.pdf").status_code == 201


def test_a_row_whose_file_is_gone_is_a_server_error(client: FlaskClient, store: Path) -> None:
    grid1 = as_user(client, "grid1")
    case_id = open_case(grid1)["id"]
    item = upload(grid1, case_id, PDF, "a.pdf").get_json()
    (store / item["sha256"][:2] / item["sha256"]).unlink()
    problem(grid1.get(item["url"]), 500)
