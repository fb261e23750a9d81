"""/api/v1/processes: the process library, validation, deployment, and each version's
metadata, source and diff (designers)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from flask import Response, current_app, request
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
    FileArgs,
    ProcessSchema,
    UploadSchema,
    VersionDetailSchema,
    VersionDiffSchema,
)
from workflows.specs import content_hash
from workflows.xmlsafe import MAX_FILE_BYTES

blp = Blueprint("processes", __name__, url_prefix="/api/v1/processes", description="Processes")

SUFFIXES = (".bpmn", ".dmn", ".json")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
SOURCE = "the file as deployed: BPMN or DMN as application/xml, a JSON form as application/json"
SOURCE_CONTENT = {
    "application/xml": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "object"}},
}


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


def _reader() -> Principal:
    """A version's source (scripts, conditions, decision tables) is for the people who design
    and audit processes: designers, admins and auditors. The list of processes (keys, names,
    version numbers) stays open to every signed-in user: each case already shows its own."""
    p = current_principal()
    if not (p.has_role(DESIGN_ROLES) or p.reads_all):
        raise Forbidden("reading process versions needs the designer, admin or auditor role")
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


@blp.route("/<key>/versions/<int:version>", methods=["GET"])
@blp.response(200, VersionDetailSchema)
@blp.alt_response(403, description="designers, admins and auditors only")
@blp.alt_response(404, description="unknown process or version")
def get_version(key: str, version: int) -> dict[str, Any]:
    """One deployed version: files, process and decision ids, cases running on it."""
    _reader()
    return service.version_info(service.get_version(key, version))


@blp.route("/<key>/versions/<int:version>/bpmn", methods=["GET"])
@blp.arguments(FileArgs, location="query")
@blp.response(200, {"type": "string"}, content_type="application/xml", description=SOURCE)
@blp.alt_response(403, description="designers, admins and auditors only")
@blp.alt_response(404, description="unknown process, version or file")
@blp.doc(responses={"200": {"description": SOURCE, "content": SOURCE_CONTENT}})
def get_version_source(args: dict[str, Any], key: str, version: int) -> Response:
    """The main BPMN file of a version as deployed (``?file=`` picks another of its files)."""
    _reader()
    name, text = service.version_file(service.get_version(key, version), args["file"])
    mimetype = "application/json" if name.endswith(".json") else "application/xml"
    return current_app.response_class(text, mimetype=mimetype)


@blp.route("/<key>/versions/<int:version>/diff/<int:other>", methods=["GET"])
@blp.response(200, VersionDiffSchema)
@blp.alt_response(403, description="designers, admins and auditors only")
@blp.alt_response(404, description="unknown process or version")
def diff_versions(key: str, version: int, other: int) -> dict[str, Any]:
    """版本对比: elements added, removed and changed from ``version`` to ``other``; diagram
    layout (DI) changes apart, and ``layout_only`` when nothing else changed."""
    _reader()
    return service.diff(key, version, other)
