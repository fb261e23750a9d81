"""Comments (备注, or 公开答复 when public) and attachments (附件) on a case: who may read and
write them, what an upload must be, and their API schemas.

Reading needs the case to be visible; writing needs a role covering the case's org unit (or
admin), and never the auditor. An upload is checked from its content, never from what the
client claims: the real type comes from the file's magic bytes (``filetype``), must be one
of ``ATTACHMENT_TYPES`` and must agree with the file name's extension; the size is counted
while reading, against ``ATTACHMENT_MAX_BYTES``.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from pathlib import Path
from typing import Any

import filetype
import marshmallow as ma
from flask import current_app, url_for
from flask_smorest.fields import Upload
from marshmallow import fields, validate
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.auth.access import Forbidden, Principal
from app.cases import blobs
from app.cases.queries import InvalidInput, get_visible
from app.core import notes
from app.core.models import Case, CaseAttachment, CaseComment
from app.core.uow import NotFound
from app.extensions import db

COMMENT_MAX_CHARS = 5000
FILENAME_MAX_CHARS = 120
SNIFF_BYTES = 8192  # what filetype reads to recognise a format
# Extensions each allowed type may carry; other types fall back to the mimetypes table.
EXTENSIONS = {
    "image/jpeg": {".jpg", ".jpeg", ".jpe", ".jfif"},
    "image/png": {".png"},
    "image/webp": {".webp"},
    "image/heic": {".heic", ".heif"},
    "application/pdf": {".pdf"},
    "video/mp4": {".mp4", ".m4v"},
    "video/quicktime": {".mov", ".qt"},
    "audio/mpeg": {".mp3"},
    "audio/mp4": {".m4a", ".mp4"},
    "audio/amr": {".amr"},
}
_UNSAFE = re.compile(r'[<>:"|?*]')


class TooLarge(Exception):
    """The upload is over the size limit (HTTP 413, naming ``file``)."""


class StoreDamaged(Exception):
    """A row whose bytes are missing or the wrong size: a server fault (HTTP 500, logged)."""


# --- who ------------------------------------------------------------------------------


def writable_case(p: Principal, case_id: int) -> Case:
    """The case, if the user may add notes to it: 404 when not visible, 403 without a role
    covering its unit (admins may; auditors never)."""
    case = get_visible(p, case_id)
    if p.read_only or not (p.is_admin or p.in_unit(case.org_unit)):
        raise Forbidden("添加备注或附件需要在该案件所属单位担任角色 (a role in the case's unit)")
    return case


# --- comments -------------------------------------------------------------------------


def comments_of(p: Principal, case_id: int) -> list[CaseComment]:
    """Every comment of a visible case, oldest first (public and internal)."""
    get_visible(p, case_id)
    return list(
        db.session.scalars(
            select(CaseComment).where(CaseComment.case_id == case_id).order_by(CaseComment.id)
        )
    )


def add_comment(p: Principal, case_id: int, *, body: str, public: bool) -> CaseComment:
    writable_case(p, case_id)
    text = body.strip()
    if not text:
        raise InvalidInput({"body": ["备注不能为空 the comment is empty"]})
    return notes.add_comment(case_id=case_id, author=p.username, body=text, public=public)


# --- attachments ----------------------------------------------------------------------


def attachments_of(p: Principal, case_id: int) -> list[CaseAttachment]:
    get_visible(p, case_id)
    return list(
        db.session.scalars(
            select(CaseAttachment)
            .where(CaseAttachment.case_id == case_id)
            .order_by(CaseAttachment.id)
        )
    )


def clean_filename(raw: str) -> str:
    """A safe display name that keeps Chinese: the last path segment only, no control or
    format characters (e.g. the right-to-left override that disguises an extension), no
    characters Windows forbids, no leading dots, at most FILENAME_MAX_CHARS (extension kept)."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    name = " ".join(_UNSAFE.sub("_", name).split()).strip(" .")
    if len(name) > FILENAME_MAX_CHARS:
        stem, ext = _split_ext(name)
        ext = ext if len(ext) <= 10 else ""
        name = stem[: FILENAME_MAX_CHARS - len(ext)].rstrip(" .") + ext
    return name


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, f".{ext}") if dot and stem else (name, "")


def _known_extension(ext: str) -> bool:
    """An extension that names a file type (so ``报告.v2`` has none, ``a.html`` has one)."""
    lower = ext.lower()
    return (
        any(lower in e for e in EXTENSIONS.values())
        or mimetypes.guess_type(f"x{lower}")[0] is not None
    )


def _extensions_of(mime: str, default: str) -> set[str]:
    return EXTENSIONS.get(mime) or {*mimetypes.guess_all_extensions(mime), f".{default}"}


def check_upload(filename: str, head: bytes) -> tuple[str, str]:
    """(clean file name, detected content type) or InvalidInput naming ``file``."""
    if not head:
        raise InvalidInput({"file": ["文件为空 the file is empty"]})
    allowed = tuple(current_app.config["ATTACHMENT_TYPES"])
    kind = filetype.guess(head)
    if kind is None or kind.mime not in allowed:
        found = kind.mime if kind else "unknown"
        raise InvalidInput(
            {"file": [f"不支持的文件类型 {found}; allowed: {', '.join(allowed)}"]},
            "file type not allowed",
        )
    name = clean_filename(filename)
    _stem, ext = _split_ext(name)
    accepted = _extensions_of(kind.mime, kind.extension)
    if ext and _known_extension(ext):
        if ext.lower() not in accepted:
            raise InvalidInput(
                {"file": [f"文件内容是 {kind.mime}，与扩展名 {ext} 不符 (content does not match)"]},
                "file type does not match its name",
            )
    else:  # no extension, or not a type's: add the real one so that it opens correctly
        name = f"{name or '附件'}.{kind.extension}"
    return name, kind.mime


def add_attachment(p: Principal, case_id: int, upload: FileStorage) -> tuple[CaseAttachment, bool]:
    """Check and store the file, then record it with its audit event; ``created`` is False
    when the case already has this content (nothing is written)."""
    writable_case(p, case_id)
    max_bytes = int(current_app.config["ATTACHMENT_MAX_BYTES"])
    head = blobs.read_head(upload.stream, SNIFF_BYTES)
    filename, content_type = check_upload(upload.filename or "", head)
    try:
        blob = blobs.put(upload.stream, blobs.store_root(), max_bytes=max_bytes, head=head)
    except blobs.TooLarge as exc:
        raise TooLarge(f"文件超过 {max_bytes} 字节 (larger than {max_bytes} bytes)") from exc
    return notes.add_attachment(
        case_id=case_id,
        filename=filename,
        content_type=content_type,
        size=blob.size,
        sha256=blob.sha256,
        uploaded_by=p.username,
    )


def attachment_file(p: Principal, case_id: int, attachment_id: int) -> tuple[CaseAttachment, Path]:
    """A visible case's attachment and the path of its bytes."""
    get_visible(p, case_id)
    row = db.session.scalar(
        select(CaseAttachment).where(
            CaseAttachment.id == attachment_id, CaseAttachment.case_id == case_id
        )
    )
    if row is None:
        raise NotFound(f"attachment {attachment_id} of case {case_id} not found")
    path = blobs.path_of(blobs.store_root(), row.sha256)
    if not path.is_file() or path.stat().st_size != row.size:
        # a row without its bytes breaks the store's promise: an operator must look
        current_app.logger.error("attachment %s: stored file %s missing or damaged", row.id, path)
        raise StoreDamaged(f"附件文件缺失或损坏 (the stored file of attachment {row.id})")
    return row, path


# --- schemas --------------------------------------------------------------------------


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ma.ValidationError("备注不能为空 the comment is empty")


class CommentCreateSchema(ma.Schema):
    body = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=COMMENT_MAX_CHARS), _not_blank],
        metadata={"description": f"the note, 1–{COMMENT_MAX_CHARS} characters"},
    )
    public = fields.Boolean(
        load_default=False,
        metadata={"description": "公开答复: shown to the resident on the tracking page"},
    )


class CommentSchema(ma.Schema):
    id = fields.Integer()
    author = fields.String(metadata={"description": "username"})
    body = fields.String()
    public = fields.Boolean()
    created_at = fields.AwareDateTime()


class AttachmentUploadSchema(ma.Schema):
    file = Upload(
        required=True,
        metadata={
            "description": "the file (multipart); its type is read from its content: "
            "photos, PDF, short clips, voice notes, up to ATTACHMENT_MAX_BYTES"
        },
    )


class AttachmentSchema(ma.Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String(metadata={"description": "detected from the content"})
    size = fields.Integer(metadata={"description": "bytes"})
    sha256 = fields.String()
    uploaded_by = fields.String()
    created_at = fields.AwareDateTime()
    url = fields.Method(
        "_url", metadata={"type": "string", "description": "where to download the bytes"}
    )

    def _url(self, row: Any) -> str:
        return url_for("case_notes.download_attachment", case_id=row.case_id, attachment_id=row.id)
