"""The JSON API (/api/v1) and the health check."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import text

from app.extensions import db


def register_api(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> tuple[object, int]:
        db.session.execute(text("SELECT 1"))
        return jsonify(status="ok"), 200
