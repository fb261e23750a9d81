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


class VersionDetailSchema(VersionSchema):
    key = fields.String()
    name = fields.String()
    latest = fields.Boolean(metadata={"description": "the version new cases start on"})
    main_file = fields.String(metadata={"description": "the BPMN file of the process itself"})
    files = fields.List(fields.String(), metadata={"description": "every file of the version"})
    processes = fields.List(fields.String(), metadata={"description": "BPMN process ids"})
    decisions = fields.List(fields.String(), metadata={"description": "DMN decision ids"})
    running_cases = fields.Integer(metadata={"description": "cases still running on it"})
    cases = fields.Integer(metadata={"description": "every case ever started on it"})


class FileArgs(ma.Schema):
    file = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=300),
        metadata={"description": "another file of the version (path or bare name)"},
    )


class ChangeSchema(ma.Schema):
    before = fields.String(allow_none=True)
    after = fields.String(allow_none=True)


class ElementSchema(ma.Schema):
    file = fields.String()
    id = fields.String()
    tag = fields.String(metadata={"description": "e.g. userTask, sequenceFlow, rule"})
    name = fields.String(allow_none=True)
    parent = fields.String(allow_none=True, metadata={"description": "nearest ancestor's id"})
    changes = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(ChangeSchema),
        metadata={
            "description": "changed only: ``@attr``, ``child/@attr`` or ``child`` (its text, "
            "e.g. conditionExpression, script, timeDate, DMN ``text``) → before/after"
        },
    )


class ElementDeltaSchema(ma.Schema):
    added = fields.List(
        fields.Nested(ElementSchema),
        metadata={"description": "new ids (an element inside a new one is not listed again)"},
    )
    removed = fields.List(fields.Nested(ElementSchema))
    changed = fields.List(fields.Nested(ElementSchema))


class FileDeltaSchema(ma.Schema):
    added = fields.List(fields.String())
    removed = fields.List(fields.String())
    changed = fields.List(fields.String())


class FormChangeSchema(ma.Schema):
    file = fields.String()
    status = fields.String(metadata={"enum": ["added", "removed", "changed"]})
    changes = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(ChangeSchema),
        metadata={"description": "JSON path (e.g. properties.result.type) → JSON before/after"},
    )


class VersionDiffSchema(ElementDeltaSchema):
    """Model changes at the top; diagram (DI) layout apart; forms by JSON path."""

    key = fields.String()
    from_version = fields.Integer(data_key="from", attribute="from")
    to = fields.Integer()
    files = fields.Nested(FileDeltaSchema)
    diagram = fields.Nested(
        ElementDeltaSchema, metadata={"description": "bpmndi/dmndi shapes, edges and bounds"}
    )
    forms = fields.List(fields.Nested(FormChangeSchema))
    layout_only = fields.Boolean(
        metadata={"description": "only the diagram layout changed: no behaviour did"}
    )
