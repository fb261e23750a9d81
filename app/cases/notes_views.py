"""/api/v1/cases/{id}/comments and /attachments: notes (备注/公开答复) and files (附件)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request, send_file
from flask_smorest import Blueprint

from app.api.errors import ApiError
from app.auth.access import current_principal
from app.cases import notes
from app.cases.notes import (
    AttachmentSchema,
    AttachmentUploadSchema,
    CommentCreateSchema,
    CommentSchema,
)
from app.core.models import CaseAttachment, CaseComment

blp = Blueprint(
    "case_notes",
    __name__,
    url_prefix="/api/v1/cases",
    description="Case comments and attachments",
)

# room for the multipart framing around the file (boundaries, part headers, file name)
MULTIPART_SLACK = 64 * 1024


@blp.before_request
def _guard_upload() -> None:
    """Refuse an upload before its body is read: the case must be writable by the caller,
    and the request body is capped near the attachment limit."""
    if request.endpoint == f"{blp.name}.upload_attachment" and request.view_args:
        notes.writable_case(current_principal(), int(request.view_args["case_id"]))
        cap = int(current_app.config["ATTACHMENT_MAX_BYTES"]) + MULTIPART_SLACK
        request.max_content_length = cap


@blp.route("/<int:case_id>/comments", methods=["GET"])
@blp.response(200, CommentSchema(many=True))
def list_comments(case_id: int) -> list[CaseComment]:
    """The case's comments, oldest first: internal notes and public replies (公开答复)."""
    return notes.comments_of(current_principal(), case_id)


@blp.route("/<int:case_id>/comments", methods=["POST"])
@blp.arguments(CommentCreateSchema)
@blp.response(201, CommentSchema)
@blp.alt_response(403, description="no role in the case's unit, or an auditor")
def add_comment(body: dict[str, Any], case_id: int) -> CaseComment:
    """Add a comment (audited); ``public`` shows it to the resident. Closed cases take notes
    too (a follow-up remark after closure)."""
    return notes.add_comment(current_principal(), case_id, body=body["body"], public=body["public"])


@blp.route("/<int:case_id>/attachments", methods=["GET"])
@blp.response(200, AttachmentSchema(many=True))
def list_attachments(case_id: int) -> list[CaseAttachment]:
    """The case's attachments, oldest first (metadata; ``url`` downloads the bytes)."""
    return notes.attachments_of(current_principal(), case_id)


@blp.route("/<int:case_id>/attachments", methods=["POST"])
@blp.arguments(AttachmentUploadSchema, location="files")
@blp.response(201, AttachmentSchema)
@blp.alt_response(200, schema=AttachmentSchema, description="the case already has this content")
@blp.alt_response(403, description="no role in the case's unit, or an auditor")
@blp.alt_response(413, description="larger than the limit (``errors.file``)")
@blp.alt_response(422, description="empty, a type not allowed, or not matching its name")
def upload_attachment(upload: dict[str, Any], case_id: int) -> tuple[CaseAttachment, int]:
    """Attach a file (multipart field ``file``): its type is read from its content, it is
    stored once by its SHA-256 outside the database, and the upload is audited."""
    try:
        row, created = notes.add_attachment(current_principal(), case_id, upload["file"])
    except notes.TooLarge as exc:
        raise ApiError(413, str(exc), errors={"file": [str(exc)]}, kind="too-large") from exc
    return row, 201 if created else 200


@blp.route("/<int:case_id>/attachments/<int:attachment_id>", methods=["GET"])
@blp.response(
    200,
    schema={"type": "string", "format": "binary"},
    content_type="*/*",
    description="the file's bytes, with the content type detected at upload, as a download",
)
def download_attachment(case_id: int, attachment_id: int) -> Response:
    """Download an attachment (``Content-Disposition: attachment``, never rendered inline)."""
    try:
        row, path = notes.attachment_file(current_principal(), case_id, attachment_id)
    except notes.StoreDamaged as exc:
        raise ApiError(500, str(exc)) from exc
    response = send_file(
        path,
        mimetype=row.content_type,
        as_attachment=True,
        download_name=row.filename,
        etag=row.sha256,
        conditional=True,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.cache_control.private = True
    return response
