"""What changed between two deployed versions of a process (版本对比), for designers.

A version is a set of files: BPMN and DMN (XML) and JSON Schema forms. In the XML, an
*element* is anything with an ``id`` attribute; its content is its tag, its attributes and
everything below it that has no id of its own (a script, a condition, a timer expression, the
text of a DMN cell, a ``spiffworkflow:property``), so each change lands on the element that
owns it. Elements are matched by (file, id). Diagram interchange (``bpmndi``/``dmndi``: shapes,
edges, bounds) is reported apart from the model: moving a box changes no behaviour, but a
designer still wants to know that only the layout moved (``layout_only``). Parsing goes
through :mod:`workflows.xmlsafe`, like every BPMN upload.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from workflows.xmlsafe import parse_xml

XML_SUFFIXES = (".bpmn", ".dmn")
# Diagram interchange namespaces (BPMN DI, DMN DI, and the DC/DI shapes they use).
_DI_NAMESPACE = re.compile(r"/(DI|DC|DMNDI|BPMNDI)/?$")
_PREFIXES = {
    "http://www.omg.org/spec/BPMN/20100524/MODEL": "bpmn",
    "http://www.w3.org/2001/XMLSchema-instance": "xsi",
    "http://spiffworkflow.org/bpmn/schema/1.0/core": "spiffworkflow",
}


@dataclass(frozen=True)
class Element:
    """One element with an id, flattened: ``content`` maps a path below it to a value."""

    file: str
    id: str
    tag: str
    name: str | None
    parent: str | None  # the id of the nearest ancestor with an id
    content: dict[str, str]
    diagram: bool

    def ref(self, **extra: Any) -> dict[str, Any]:
        out = {"file": self.file, "id": self.id, "tag": self.tag, "name": self.name}
        return {**out, "parent": self.parent, **extra}


@dataclass
class Delta:
    """Added, removed and changed elements of one kind (model or diagram)."""

    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed}


@dataclass
class VersionDiff:
    files: dict[str, list[str]]
    model: Delta
    diagram: Delta
    forms: list[dict[str, Any]]
    unreadable: list[str] = field(default_factory=list)  # changed XML that does not parse

    @property
    def layout_only(self) -> bool:
        """Only the diagram moved: nothing a case would notice."""
        return bool(self.diagram) and not (self.model or self.forms or self.unreadable)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            **self.model.as_dict(),
            "diagram": self.diagram.as_dict(),
            "forms": self.forms,
            "layout_only": self.layout_only,
        }


def _text(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def _qname(clark: str) -> str:
    q = etree.QName(clark)
    prefix = _PREFIXES.get(q.namespace or "")
    return f"{prefix}:{q.localname}" if prefix and prefix != "bpmn" else q.localname


def _is_diagram(el: etree._Element) -> bool:
    return bool(_DI_NAMESPACE.search(etree.QName(el).namespace or ""))


def _children(el: etree._Element) -> Iterator[etree._Element]:
    return (c for c in el if isinstance(c.tag, str))  # no comments or processing instructions


def _plain(el: etree._Element) -> bool:
    """Text and nothing else: a reference such as ``incoming`` or ``flowNodeRef``."""
    return not el.attrib and next(_children(el), None) is None


def _flatten(el: etree._Element, prefix: str, out: dict[str, str]) -> None:
    """Attributes as ``path@attr``, text as ``path`` (``text()`` for the element's own), and
    each id-less child below it. Repeated plain children (``incoming``, ``flowNodeRef``) make
    one value listing their texts; other repeated children are told apart by their ``name``
    attribute, else by position, so inserting one does not shift the others' paths."""
    for attr, value in sorted(el.attrib.items()):
        if attr != "id":
            out[f"{prefix}@{_qname(attr)}"] = value
    text = (el.text or "").strip()
    if text:
        out[prefix.rstrip("/") or "text()"] = text
    groups: dict[str, list[etree._Element]] = {}
    for kid in _children(el):
        if not _own_element(kid):
            groups.setdefault(_qname(kid.tag), []).append(kid)
    for tag, group in groups.items():
        if len(group) == 1:
            _flatten(group[0], f"{prefix}{tag}/", out)
        elif all(_plain(k) for k in group):
            out[f"{prefix}{tag}"] = ", ".join((k.text or "").strip() for k in group)
        else:
            keys = [k.get("name") for k in group]
            if None in keys or len(set(keys)) < len(keys):
                keys = [str(i) for i in range(1, len(group) + 1)]
            for key, kid in zip(keys, group, strict=True):
                _flatten(kid, f"{prefix}{tag}[{key}]/", out)


def _own_element(el: etree._Element) -> bool:
    """An element reported on its own: it has an id, or it starts a diagram (``dmndi:DMNDI``
    has none) inside the model, whose content must not pick up layout."""
    if el.get("id") is not None:
        return True
    parent = el.getparent()
    return _is_diagram(el) and parent is not None and not _is_diagram(parent)


def elements(file: str, root: etree._Element) -> dict[str, Element]:
    """Every element with an id in one parsed XML file, by id (a repeated id: the first);
    a diagram root without an id is keyed by its tag (``DMNDI#1``)."""
    found: dict[str, Element] = {}
    keys: dict[etree._Element, str] = {}  # lxml keeps one proxy per node while referenced
    unnamed: dict[str, int] = {}
    for el in root.iter():
        if not isinstance(el.tag, str) or not (el is root or _own_element(el)):
            continue
        el_id = el.get("id")
        if el_id is None:
            tag = etree.QName(el).localname
            unnamed[tag] = unnamed.get(tag, 0) + 1
            el_id = f"{tag}#{unnamed[tag]}"
        if el_id in found:
            continue
        keys[el] = el_id
        parent = next((keys[a] for a in el.iterancestors() if a in keys), None)
        content: dict[str, str] = {"tag": _qname(el.tag)}
        _flatten(el, "", content)
        found[el_id] = Element(
            file=file,
            id=el_id,
            tag=_qname(el.tag),
            name=el.get("name"),
            parent=parent,
            content=content,
            diagram=_is_diagram(el),
        )
    return found


def _top_most(ids: set[str], index: Mapping[str, Element]) -> list[str]:
    """Drop an element whose ancestor is in the same set: an added DMN rule is one entry,
    not one per cell."""

    def inside(el: Element) -> bool:
        parent = el.parent
        while parent is not None:
            if parent in ids:
                return True
            parent = index[parent].parent if parent in index else None
        return False

    return [i for i in ids if not inside(index[i])]


def _compare(old: Mapping[str, Element], new: Mapping[str, Element]) -> tuple[Delta, Delta]:
    """Model and diagram deltas of one file, in document order."""
    model, diagram = Delta(), Delta()
    for side, other, bucket in ((new, old, "added"), (old, new, "removed")):
        order = {el_id: i for i, el_id in enumerate(side)}
        for el_id in sorted(_top_most(set(side) - set(other), side), key=order.__getitem__):
            el = side[el_id]
            getattr(diagram if el.diagram else model, bucket).append(el.ref())
    for el_id, el in new.items():
        before = old.get(el_id)
        if before is None or (before.content, before.parent) == (el.content, el.parent):
            continue
        keys = [*before.content, *(k for k in el.content if k not in before.content)]
        changes = {
            k: {"before": before.content.get(k), "after": el.content.get(k)}
            for k in keys
            if before.content.get(k) != el.content.get(k)
        }
        if before.parent != el.parent:  # moved, e.g. into a subprocess
            changes["parent"] = {"before": before.parent, "after": el.parent}
        (diagram if el.diagram else model).changed.append(el.ref(changes=changes))
    return model, diagram


def _json_paths(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _json_paths(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from _json_paths(item, f"{prefix}[{i}]")
    else:
        yield prefix or "$", json.dumps(value, ensure_ascii=False, sort_keys=True)


def _form_change(file: str, old: bytes, new: bytes) -> dict[str, Any]:
    try:
        before, after = dict(_json_paths(json.loads(old))), dict(_json_paths(json.loads(new)))
    except ValueError:  # deployed forms are valid JSON; say "changed" if one is not
        return {"file": file, "status": "changed", "changes": {}}
    keys = [*before, *(k for k in after if k not in before)]
    changes = {
        k: {"before": before.get(k), "after": after.get(k)}
        for k in keys
        if before.get(k) != after.get(k)
    }
    return {"file": file, "status": "changed", "changes": changes}


def _parsed(file: str, content: bytes) -> etree._Element | None:
    root, _errors = parse_xml(content, file=file)
    return root


def _xml_elements(name: str, side: Mapping[str, bytes]) -> dict[str, Element] | None:
    """The file's elements; {} when the side lacks the file, None when it does not parse
    (deployed files always parse: this is for callers diffing anything else)."""
    if name not in side:
        return {}
    root = _parsed(name, side[name])
    return elements(name, root) if root is not None else None


def diff_versions(old: Mapping[str, str | bytes], new: Mapping[str, str | bytes]) -> VersionDiff:
    """The differences from ``old`` to ``new`` (each a mapping of file path to content)."""
    a = {name: _text(c) for name, c in old.items()}
    b = {name: _text(c) for name, c in new.items()}
    files = {
        "added": sorted(set(b) - set(a)),
        "removed": sorted(set(a) - set(b)),
        "changed": sorted(n for n in set(a) & set(b) if a[n] != b[n]),
    }
    result = VersionDiff(files=files, model=Delta(), diagram=Delta(), forms=[])
    for name in sorted(set(a) | set(b)):
        if a.get(name) == b.get(name):
            continue
        if name.endswith(XML_SUFFIXES):
            before, after = _xml_elements(name, a), _xml_elements(name, b)
            if before is None or after is None:
                result.unreadable.append(name)  # in files.changed, with no element detail
                continue
            m, d = _compare(before, after)
            for mine, theirs in ((result.model, m), (result.diagram, d)):
                mine.added += theirs.added
                mine.removed += theirs.removed
                mine.changed += theirs.changed
        elif name.endswith(".json"):
            if name not in a:
                result.forms.append({"file": name, "status": "added", "changes": {}})
            elif name not in b:
                result.forms.append({"file": name, "status": "removed", "changes": {}})
            else:
                result.forms.append(_form_change(name, a[name], b[name]))
    return result


def outline(files: Mapping[str, str | bytes]) -> dict[str, dict[str, str]]:
    """The process ids and DMN decision ids a version's files define, each with its file."""
    processes: dict[str, str] = {}
    decisions: dict[str, str] = {}
    for name, content in sorted(files.items()):
        if not name.endswith(XML_SUFFIXES):
            continue
        root = _parsed(name, _text(content))
        if root is None:
            continue
        for el in root.iter("{*}process", "{*}decision"):
            target = processes if etree.QName(el).localname == "process" else decisions
            target.setdefault(el.get("id", ""), name)
    return {"processes": processes, "decisions": decisions}
