"""Load, validate and bundle processes (BPMN + DMN + forms) from a folder or uploaded bytes.

A *bundle* is everything one deployable process needs: its BPMN file, the BPMN files of the
processes it calls, the DMN files of the decisions it calls and the JSON Schema forms its user
tasks name. Its content hash keys the deployed version, so identical content is a no-op.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from workflows.checks import check_spec
from workflows.compaction import compaction_problems
from workflows.errors import SpecError, SpecValidationError
from workflows.xmlsafe import parse_xml

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
FORM_PROPERTIES = ("formJsonSchemaFilename", "formUiSchemaFilename")


@dataclass
class ProcessBundle:
    """A parsed, validated process with the files it came from."""

    key: str
    name: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    files: dict[str, bytes]
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return content_hash(self.files)


def content_hash(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


@dataclass
class _Scan:
    """What a quick look at the XML says about each file, before the engine parses it."""

    processes: dict[str, str] = field(default_factory=dict)  # process id -> file
    executable: set[str] = field(default_factory=set)
    calls: dict[str, set[str]] = field(default_factory=dict)  # process id -> called ids
    decisions_used: dict[str, set[str]] = field(default_factory=dict)  # file -> decision ids
    decisions: dict[str, str] = field(default_factory=dict)  # decision id -> file
    forms_used: dict[str, set[str]] = field(default_factory=dict)  # file -> form names
    trees: dict[str, etree._Element] = field(default_factory=dict)
    errors: list[SpecError] = field(default_factory=list)


def _scan(files: Mapping[str, bytes]) -> _Scan:
    scan = _Scan()
    for name, content in files.items():
        if not name.endswith((".bpmn", ".dmn")):
            continue
        root, errors = parse_xml(content, file=name)
        scan.errors.extend(errors)
        if root is None:
            continue
        scan.trees[name] = root
        if name.endswith(".dmn"):
            for decision in root.iter("{*}decision"):
                scan.decisions[decision.get("id", "")] = name
            continue
        for process in root.iterfind("bpmn:process", NS):
            pid = process.get("id", "")
            scan.processes[pid] = name
            if process.get("isExecutable", "true").lower() == "true":
                scan.executable.add(pid)
            scan.calls[pid] = {
                call.get("calledElement", "")
                for call in process.iterfind(".//bpmn:callActivity", NS)
            }
        scan.decisions_used[name] = {
            (el.text or "").strip() for el in root.iterfind(".//spiffworkflow:calledDecisionId", NS)
        }
        scan.forms_used[name] = {
            el.get("value", "")
            for el in root.iterfind(".//spiffworkflow:property", NS)
            if el.get("name") in FORM_PROPERTIES
        }
    return scan


def _form_index(files: Mapping[str, bytes]) -> dict[str, str]:
    """Forms are named by file name alone in the BPMN; map each name to its path."""
    return {PurePosixPath(n).name: n for n in files if n.endswith(".json")}


def _bundle_files(scan: _Scan, files: Mapping[str, bytes], key: str) -> dict[str, bytes]:
    wanted_processes, todo = set(), [key]
    while todo:
        pid = todo.pop()
        if pid in wanted_processes or pid not in scan.processes:
            continue
        wanted_processes.add(pid)
        todo.extend(scan.calls.get(pid, ()))
    bpmn_files = {scan.processes[p] for p in wanted_processes}
    decisions = set().union(*(scan.decisions_used.get(f, set()) for f in bpmn_files))
    dmn_files = {scan.decisions[d] for d in decisions if d in scan.decisions}
    forms = _form_index(files)
    form_names = set().union(*(scan.forms_used.get(f, set()) for f in bpmn_files))
    form_files = {forms[n] for n in form_names if n in forms}
    return {n: files[n] for n in sorted(bpmn_files | dmn_files | form_files)}


def top_level_processes(files: Mapping[str, bytes]) -> list[str]:
    """Executable processes that no other process in ``files`` calls: the deployable ones."""
    scan = _scan(files)
    called = set().union(*scan.calls.values()) if scan.calls else set()
    return sorted(p for p in scan.executable if p not in called)


def read_directory(path: Path) -> dict[str, bytes]:
    """Every BPMN, DMN and JSON file under ``path``, keyed by its relative POSIX path."""
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.suffix in {".bpmn", ".dmn", ".json"}
    }


def load_directory(path: Path, *, roles: Collection[str] | None = None) -> list[ProcessBundle]:
    files = read_directory(path)
    return [load_bundle(files, key=key, roles=roles) for key in top_level_processes(files)]


def load_bundle(
    files: Mapping[str, bytes], *, key: str | None = None, roles: Collection[str] | None = None
) -> ProcessBundle:
    """Parse and validate the process ``key`` (or the only top-level one) from ``files``.

    Raises SpecValidationError listing every problem found, each pinned to an element id
    where there is one. Only the files the process needs end up in the bundle.
    """
    scan = _scan(files)
    if scan.errors:
        raise SpecValidationError(scan.errors)
    if key is None:
        candidates = top_level_processes(files)
        if len(candidates) != 1:
            found = ", ".join(candidates) or "none"
            raise SpecValidationError(
                [SpecError(f"expected exactly one executable process, found: {found}")]
            )
        key = candidates[0]
    if key not in scan.executable:
        raise SpecValidationError([SpecError(f"no executable process with id {key!r}")])
    bundle_files = _bundle_files(scan, files, key)
    errors = _missing_references(scan, bundle_files, key)
    forms, form_errors = _load_forms(bundle_files)
    errors += form_errors
    spec, subprocess_specs, parse_errors = _parse(scan, bundle_files, key)
    errors += parse_errors
    if spec is not None:
        errors += check_spec(spec, subprocess_specs, forms=forms, roles=roles)
        errors += [
            SpecError(p.message, p.element_id, scan.processes.get(key))
            for p in compaction_problems(spec, subprocess_specs)
        ]
    if errors:
        raise SpecValidationError(errors)
    assert spec is not None
    return ProcessBundle(
        key=key,
        name=spec.description or key,
        spec=spec,
        subprocess_specs=subprocess_specs,
        files=bundle_files,
        forms=forms,
    )


def _missing_references(scan: _Scan, bundle: Mapping[str, bytes], key: str) -> list[SpecError]:
    errors: list[SpecError] = []
    forms = _form_index(bundle)
    for name, root in scan.trees.items():
        if name not in bundle or not name.endswith(".bpmn"):
            continue
        for task in root.iterfind(".//bpmn:businessRuleTask", NS):
            ref = task.find(".//spiffworkflow:calledDecisionId", NS)
            decision = (ref.text or "").strip() if ref is not None else ""
            if decision and decision not in scan.decisions:
                errors.append(
                    SpecError(f"decision {decision!r} is not in any DMN file", task.get("id"), name)
                )
        for call in root.iterfind(".//bpmn:callActivity", NS):
            if call.get("calledElement") not in scan.processes:
                errors.append(
                    SpecError(
                        f"called process {call.get('calledElement')!r} is missing",
                        call.get("id"),
                        name,
                    )
                )
        for prop in root.iterfind(".//spiffworkflow:property", NS):
            if prop.get("name") in FORM_PROPERTIES and prop.get("value") not in forms:
                owner = next((a for a in prop.iterancestors() if a.get("id")), None)
                errors.append(
                    SpecError(
                        f"form file {prop.get('value')!r} is missing",
                        owner.get("id") if owner is not None else None,
                        name,
                    )
                )
    return errors


def _load_forms(bundle: Mapping[str, bytes]) -> tuple[dict[str, dict[str, Any]], list[SpecError]]:
    """Parse the JSON files; checks.py checks those used as JSON Schema forms."""
    forms: dict[str, dict[str, Any]] = {}
    errors: list[SpecError] = []
    for name, content in bundle.items():
        if not name.endswith(".json"):
            continue
        try:
            forms[PurePosixPath(name).name] = json.loads(content)
        except ValueError as exc:
            errors.append(SpecError(f"invalid JSON: {exc}", file=name))
    return forms, errors


def _parse(
    scan: _Scan, bundle: Mapping[str, bytes], key: str
) -> tuple[BpmnProcessSpec | None, dict[str, BpmnProcessSpec], list[SpecError]]:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _parse_quietly(parser, scan, bundle, key)
    deprecated = [
        SpecError(f"outdated construct: {w.message}", None, scan.processes.get(key))
        for w in caught
        if issubclass(w.category, DeprecationWarning)
    ]
    return result[0], result[1], result[2] + deprecated


def _parse_quietly(
    parser: SpiffBpmnParser, scan: _Scan, bundle: Mapping[str, bytes], key: str
) -> tuple[BpmnProcessSpec | None, dict[str, BpmnProcessSpec], list[SpecError]]:
    name = None
    try:
        for name in bundle:
            if name.endswith(".bpmn"):
                parser.add_bpmn_xml(scan.trees[name], filename=name)
            elif name.endswith(".dmn"):
                parser.add_dmn_xml(scan.trees[name], filename=name)
        name = scan.processes[key]
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except RecursionError:
        return None, {}, [SpecError("process is too deeply nested to parse", None, name)]
    except Exception as exc:  # the engine lets TypeError & co. escape: refuse clearly, never 500
        return None, {}, [_engine_error(exc, name)]
    return spec, subprocess_specs, []


def _engine_error(exc: Exception, file: str | None) -> SpecError:
    element = getattr(exc, "id", None) or None
    message = str(exc).strip() or type(exc).__name__
    return SpecError(message, element, getattr(exc, "file_name", None) or file)
