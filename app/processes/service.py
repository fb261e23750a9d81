"""Deploying processes: immutable versions keyed by content hash."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from app.core.models import ProcessDefinition, ProcessVersion
from app.database import write_transaction
from app.extensions import db
from app.orgs.models import ROLES
from workflows import clock, serializer
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
