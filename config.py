"""Configuration: development (default), testing and production, all from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

BASE_DIR = Path(__file__).resolve().parent


def _sqlite_default() -> str:
    instance = BASE_DIR / "instance"
    instance.mkdir(exist_ok=True)
    return f"sqlite:///{instance / 'gridcase.sqlite'}"


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or _sqlite_default()
    # No pre-ping: it costs a round trip per checkout (3 ms of a 12 ms completion on
    # PostgreSQL); connections are recycled instead, and one dropped by a database restart
    # fails one request, which the pool then replaces.
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, object]] = {"pool_recycle": 1800}
    BPMN_DIR = os.environ.get("GRIDCASE_BPMN_DIR", str(BASE_DIR / "bpmn"))
    # Drop finished engine history after each step (the audit log keeps it).
    COMPACTION = True
    # Wall-clock budget of one script or expression in a diagram, in seconds.
    SCRIPT_TIME_LIMIT = float(os.environ.get("GRIDCASE_SCRIPT_TIME_LIMIT", "1.0"))
    DEMO = False
    JSON_SORT_KEYS = False
    # 满意率 (app/reports/stats.py): whether 基本满意 "basically satisfied" counts as satisfied.
    STATS_BASICALLY_SATISFIED_COUNTS = os.environ.get("GRIDCASE_STATS_BASIC", "1") != "0"
    # Residents' tracking page: unknown codes one address may look up per hour before each
    # further miss blocks it for a growing time (app/residents/service.py).
    TRACK_ADDR_FREE = int(os.environ.get("GRIDCASE_TRACK_ADDR_FREE", "20"))
    # GET /metrics: open (aggregate gauges only) unless a token is set; then Bearer <token>.
    METRICS_TOKEN = os.environ.get("GRIDCASE_METRICS_TOKEN") or None
    # Case attachments (附件): bytes in a content-addressed store outside the database
    # (None: <instance>/attachments; testing: a temporary directory per app), a size cap and
    # the types allowed, detected from the content (photos, PDF, short clips, voice notes).
    ATTACHMENT_DIR = os.environ.get("GRIDCASE_ATTACHMENT_DIR") or None
    ATTACHMENT_MAX_BYTES = int(os.environ.get("GRIDCASE_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))
    ATTACHMENT_TYPES = (
        "image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf",
        "video/mp4", "video/quicktime", "audio/mpeg", "audio/mp4", "audio/amr",
    )  # fmt: skip
    # A cap on every request body; the upload routes set their own per request.
    MAX_CONTENT_LENGTH = 32 * 1024 * 1024
    # Python's cyclic garbage collector: a young-generation threshold of 50,000 allocations
    # instead of 700. Loading an instance allocates thousands of engine objects, so at 700
    # the collector ran several times per task completion (bench/engine.py: about a tenth of
    # its cost); None keeps Python's default. Set process-wide by create_app.
    GC_THRESHOLD: ClassVar[tuple[int, int, int] | None] = (50_000, 10, 10)


class DevelopmentConfig(Config):
    DEMO = True


class TestingConfig(Config):
    TESTING = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")


class ProductionConfig(Config):
    SECRET_KEY = os.environ.get("SECRET_KEY", "")


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
