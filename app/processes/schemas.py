"""Process schemas: the library listing, uploads, validate/deploy results."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate


class VersionSchema(ma.Schema):
    version = fields.Integer()
    content_hash = fields.String()
    deployed_at = fields.AwareDateTime()
    deployed_by = fields.String()


class ProcessSchema(ma.Schema):
    key = fields.String()
    name = fields.String()
    latest_version = fields.Integer(allow_none=True)
    versions = fields.List(fields.Nested(VersionSchema))


class UploadSchema(ma.Schema):
    files = fields.List(
        Upload(),
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "BPMN, DMN and JSON Schema form files (relative paths)"},
    )
    # a plain form field of the same multipart body, read by the view (webargs reads files
    # and form fields from two locations; this keeps the documented body in one piece)
    key = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=120),
        metadata={"description": "process id, when the files hold several top-level ones"},
    )


class DeployResultSchema(ma.Schema):
    key = fields.String()
    version = fields.Integer(
        allow_none=True, metadata={"description": "null on validate when not deployed yet"}
    )
    created = fields.Boolean()
