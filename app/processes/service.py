"""Deploying processes (immutable versions keyed by content hash) and reading them back:
a version's metadata, its source files and what changed between two versions (版本对比)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import func, select

from app.core.models import Case, ProcessDefinition, ProcessInstance, ProcessVersion
from app.core.uow import NotFound
from app.database import write_transaction
from app.extensions import db
from app.orgs.models import ROLES
from workflows import clock, serializer
from workflows.diff import diff_versions, outline
from workflows.specs import ProcessBundle, load_bundle, load_directory


def validate(files: dict[str, bytes], *, key: str | None = None) -> ProcessBundle:
    """Parse and check a bundle; raises SpecValidationError naming each bad element."""
    return load_bundle(files, key=key, roles=ROLES)


def deploy(*, bundle: ProcessBundle, actor: str) -> tuple[ProcessVersion, bool]:
    """Store ``bundle`` as the next version of its process; identical content is a no-op.

    Returns the version and whether it was created now.
    """
    digest = bundle.content_hash
    with write_transaction() as session:
        definition = session.scalar(
            select(ProcessDefinition).where(ProcessDefinition.key == bundle.key)
        )
        if definition is None:
            definition = ProcessDefinition(key=bundle.key, name=bundle.name, created_at=clock.now())
            session.add(definition)
            session.flush()
        existing = session.scalar(
            select(ProcessVersion).where(
                ProcessVersion.definition_id == definition.id,
                ProcessVersion.content_hash == digest,
            )
        )
        if existing is not None:
            return existing, False
        latest = session.scalar(
            select(func.max(ProcessVersion.version)).where(
                ProcessVersion.definition_id == definition.id
            )
        )
        definition.name = bundle.name
        version = ProcessVersion(
            definition=definition,
            version=(latest or 0) + 1,
            content_hash=digest,
            files={name: content.decode("utf-8") for name, content in bundle.files.items()},
            spec_json=serializer.dump_spec(bundle.spec, bundle.subprocess_specs),
            deployed_at=clock.now(),
            deployed_by=actor,
        )
        session.add(version)
    return version, True


def deploy_directory(path: Path, *, actor: str) -> list[tuple[ProcessVersion, bool]]:
    return [deploy(bundle=b, actor=actor) for b in load_directory(path, roles=ROLES)]


def latest_version(key: str) -> ProcessVersion | None:
    return db.session.scalars(
        select(ProcessVersion)
        .join(ProcessDefinition)
        .where(ProcessDefinition.key == key)
        .order_by(ProcessVersion.version.desc())
        .limit(1)
    ).first()


def get_version(key: str, version: int) -> ProcessVersion:
    """The deployed version ``version`` of process ``key``, or NotFound (404)."""
    found = db.session.scalar(
        select(ProcessVersion)
        .join(ProcessDefinition)
        .where(ProcessDefinition.key == key, ProcessVersion.version == version)
    )
    if found is None:
        raise NotFound(f"process {key!r} has no version {version}")
    return found


def main_file(version: ProcessVersion) -> str:
    """The BPMN file that defines the process itself (the others are called processes,
    decisions and forms)."""
    files = outline(version.files)["processes"]
    return files.get(version.definition.key) or min(
        (n for n in version.files if n.endswith(".bpmn")), default=""
    )


def version_info(version: ProcessVersion) -> dict[str, Any]:
    """Metadata for designers: files, the processes and decisions they define, and how many
    cases run on the version (those keep it until migrated, so it cannot simply go away)."""
    parts = outline(version.files)
    counts = dict(
        db.session.execute(
            select(ProcessInstance.status, func.count(Case.id))
            .join(Case, Case.instance_id == ProcessInstance.id)
            .where(ProcessInstance.version_id == version.id)
            .group_by(ProcessInstance.status)
        ).all()
    )
    latest = db.session.scalar(
        select(func.max(ProcessVersion.version)).where(
            ProcessVersion.definition_id == version.definition_id
        )
    )
    return {
        "key": version.definition.key,
        "name": version.definition.name,
        "version": version.version,
        "content_hash": version.content_hash,
        "deployed_at": version.deployed_at,
        "deployed_by": version.deployed_by,
        "latest": version.version == latest,
        "main_file": main_file(version),
        "files": sorted(version.files),
        "processes": sorted(parts["processes"]),
        "decisions": sorted(parts["decisions"]),
        "running_cases": int(counts.get("running", 0)),
        "cases": int(sum(counts.values())),
    }


def version_file(version: ProcessVersion, name: str | None = None) -> tuple[str, str]:
    """(path, text) of one file of the version: the main BPMN file unless ``name`` picks
    another, by path or by bare file name (forms are named so in the BPMN)."""
    if name is None:
        name = main_file(version)
    if name not in version.files:
        by_name = [n for n in version.files if PurePosixPath(n).name == name]
        if len(by_name) != 1:
            raise NotFound(f"version {version.version} has no file {name!r}")
        name = by_name[0]
    return name, version.files[name]


def diff(key: str, version: int, other: int) -> dict[str, Any]:
    """What changed from ``version`` to ``other`` (either may be the older one)."""
    before, after = get_version(key, version), get_version(key, other)
    result = diff_versions(before.files, after.files).as_dict()
    return {"key": key, "from": before.version, "to": after.version, **result}
