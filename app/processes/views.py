"""/api/v1/processes: the process library, validation and deployment (designers)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from flask import request
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from app.auth.access import DESIGN_ROLES, Forbidden, Principal, current_principal
from app.cases.queries import InvalidInput
from app.core.models import ProcessDefinition, ProcessVersion
from app.extensions import db
from app.processes import service
from app.processes.schemas import (
    DeployResultSchema,
    ProcessSchema,
    UploadSchema,
)
from workflows.specs import content_hash
from workflows.xmlsafe import MAX_FILE_BYTES

blp = Blueprint("processes", __name__, url_prefix="/api/v1/processes", description="Processes")

SUFFIXES = (".bpmn", ".dmn", ".json")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@blp.before_request
def _guard_uploads() -> None:
    """Designers only, checked before the upload is parsed; and a cap on its size."""
    if request.method == "POST":
        _designer()
        request.max_content_length = MAX_UPLOAD_BYTES


def _designer() -> Principal:
    p = current_principal()
    if not p.has_role(DESIGN_ROLES):
        raise Forbidden("validating and deploying processes needs the designer role")
    return p


def _read(files: list[FileStorage]) -> dict[str, bytes]:
    """Uploaded files by relative POSIX path; bad names, types, sizes or encodings → 422."""
    out: dict[str, bytes] = {}
    errors: dict[str, list[str]] = {}
    for upload in files:
        path = PurePosixPath((upload.filename or "").replace("\\", "/").lstrip("/"))
        name = path.as_posix() if path.parts else ""
        if not name or ".." in path.parts or not name.endswith(SUFFIXES):
            errors.setdefault(name or "files", []).append("expected a .bpmn, .dmn or .json file")
            continue
        content = upload.stream.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            errors.setdefault(name, []).append(f"larger than {MAX_FILE_BYTES} bytes")
            continue
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            errors.setdefault(name, []).append("not UTF-8 text")
            continue
        out[name] = content
    if errors:
        raise InvalidInput(errors, "some files cannot be used")
    return out


def _key() -> str | None:
    key = request.form.get("key") or None
    if key is not None and len(key) > 120:
        raise InvalidInput({"key": ["longer than 120 characters"]})
    return key


def _existing(key: str, files: dict[str, bytes]) -> ProcessVersion | None:
    return db.session.scalar(
        select(ProcessVersion)
        .join(ProcessDefinition)
        .where(ProcessDefinition.key == key, ProcessVersion.content_hash == content_hash(files))
    )


@blp.route("", methods=["GET"])
@blp.response(200, ProcessSchema(many=True))
def list_processes() -> list[dict[str, Any]]:
    """Every deployed process with its versions."""
    definitions = db.session.scalars(
        select(ProcessDefinition)
        .options(selectinload(ProcessDefinition.versions))
        .order_by(ProcessDefinition.key)
    )
    return [
        {
            "key": d.key,
            "name": d.name,
            "latest_version": d.versions[-1].version if d.versions else None,
            "versions": d.versions,
        }
        for d in definitions
    ]


@blp.route("/validate", methods=["POST"])
@blp.arguments(UploadSchema, location="files")
@blp.response(200, DeployResultSchema)
@blp.alt_response(422, description="each problem pinned to an element id (``element``)")
def validate_process(upload: dict[str, Any]) -> dict[str, Any]:
    """Check a process without deploying it."""
    bundle = service.validate(_read(upload["files"]), key=_key())
    existing = _existing(bundle.key, bundle.files)
    return {
        "key": bundle.key,
        "version": existing.version if existing else None,
        "created": False,
    }


@blp.route("", methods=["POST"])
@blp.arguments(UploadSchema, location="files")
@blp.response(201, DeployResultSchema)
@blp.alt_response(200, schema=DeployResultSchema, description="identical content: unchanged")
@blp.alt_response(422, description="each problem pinned to an element id (``element``)")
def deploy_process(upload: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Deploy a process as its next version (identical content: the existing version)."""
    p = current_principal()
    bundle = service.validate(_read(upload["files"]), key=_key())
    version, created = service.deploy(bundle=bundle, actor=p.username)
    result = {"key": bundle.key, "version": version.version, "created": created}
    return result, 201 if created else 200
