"""The content-addressed file store of case attachments (附件), outside the database.

A file lives at ``<root>/<sha256[:2]>/<sha256>``: identical content is stored once, and a
path never changes meaning. It is written atomically (a temporary file in the same store,
fsync, ``os.replace``, fsync of the directory) *before* the database row commits, so there
is never a row without its file. If the transaction then fails, the file stays as an
orphan: harmless (nothing points at it, and the same content reuses it later), and a
sweep may delete files that no row names. A crash mid-write leaves at most a ``.upload-*``
temporary file, never a partial file under a hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app

CHUNK = 64 * 1024


class TooLarge(Exception):
    """More bytes than the limit: the request is refused (HTTP 413) and nothing is kept."""


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int
    path: Path


def store_root() -> Path:
    """``ATTACHMENT_DIR``, else ``<instance>/attachments``; a test app without one gets a
    temporary directory of its own, removed with the app."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    configured = app.config.get("ATTACHMENT_DIR")
    if not configured:
        if app.testing:
            configured = tempfile.mkdtemp(prefix="gridcase-attachments-")
            weakref.finalize(app, shutil.rmtree, configured, ignore_errors=True)
        else:
            configured = os.path.join(app.instance_path, "attachments")
        app.config["ATTACHMENT_DIR"] = configured
    return Path(configured)


def path_of(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def read_head(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes from the start (a stream may return fewer per read)."""
    parts, got = [], 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def put(stream: BinaryIO, root: Path, *, max_bytes: int, head: bytes = b"") -> Blob:
    """Store ``head`` + the rest of ``stream``, read in chunks and cut off past ``max_bytes``
    whatever the request claimed its length was."""
    root.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, temp = tempfile.mkstemp(prefix=".upload-", dir=root)
    try:
        with os.fdopen(fd, "wb") as out:
            chunk = head or stream.read(CHUNK)
            while chunk:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"larger than {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
                chunk = stream.read(CHUNK)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        final = path_of(root, sha)
        if final.exists():  # the same content is already stored: keep one copy
            os.unlink(temp)
        else:
            final.parent.mkdir(exist_ok=True)
            os.replace(temp, final)
            _fsync_dir(final.parent)
        return Blob(sha256=sha, size=size, path=final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _fsync_dir(path: Path) -> None:
    """Make the rename durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
