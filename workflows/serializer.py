"""Instance state without the spec, and the spec stored once per deployed version.

SpiffWorkflow embeds the whole spec in every saved instance (15 of 19 KB for a small process).
Our workflow converter writes only the instance; on load the cached spec of the instance's
version is attached again. Specs are serialized with the same registry, so a deployed version
keeps the exact spec it was deployed with even when the parser changes.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Writes the instance alone; restores it onto a spec handed in by the caller."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(  # type: ignore[override]
        self,
        dct: dict[str, Any],
        *,
        spec: BpmnProcessSpec,
        subprocess_specs: dict[str, BpmnProcessSpec],
    ) -> BpmnWorkflow:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _registry() -> Any:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    return BpmnWorkflowSerializer.configure(config)


_SERIALIZER = BpmnWorkflowSerializer(_registry())
_STANDARD = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


def dump_instance(workflow: BpmnWorkflow) -> str:
    """The instance as JSON, without its spec.

    Never sort the keys: tasks store their data as a delta against their parent, and the
    loader restores them in document order, so a parent must come before its children.
    """
    registry = _SERIALIZER.registry
    registry._encoder_mode = True
    try:
        dct = registry.convert(workflow)
        dct[_SERIALIZER.VERSION_KEY] = _SERIALIZER.VERSION
        return json.dumps(dct, cls=_SERIALIZER._encoder_cls, separators=(",", ":"))
    finally:
        registry._encoder_mode = False


def load_instance(
    state: str, *, spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]
) -> BpmnWorkflow:
    dct = json.loads(state, cls=_SERIALIZER.json_decoder_cls)
    _SERIALIZER.migrate(dct)
    return _SERIALIZER.registry.restore(dct, spec=spec, subprocess_specs=subprocess_specs)


def dump_spec(spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> str:
    registry = _SERIALIZER.registry
    dct = {
        "spec": registry.convert(spec),
        "subprocess_specs": {k: registry.convert(v) for k, v in subprocess_specs.items()},
    }
    return json.dumps(dct, sort_keys=True, separators=(",", ":"))


def load_spec(serialized: str) -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
    dct = json.loads(serialized)
    registry = _SERIALIZER.registry
    spec = registry.restore(dct["spec"])
    subprocess_specs = {k: registry.restore(v) for k, v in dct["subprocess_specs"].items()}
    return spec, subprocess_specs


def dump_standard(workflow: BpmnWorkflow) -> str:
    """SpiffWorkflow's own format (spec embedded): the baseline benchmarks compare against."""
    return _STANDARD.serialize_json(workflow)


def load_standard(state: str) -> BpmnWorkflow:
    return _STANDARD.deserialize_json(state)
