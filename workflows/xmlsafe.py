"""Hardened XML parsing for uploaded BPMN and DMN files.

SpiffWorkflow parses with lxml's defaults; an upload with an external entity would land a
server file inside a timer expression. We parse the bytes ourselves: a size cap before parsing,
no DOCTYPE at all, no entity resolution, no network, no huge trees.
"""

from __future__ import annotations

import re

from lxml import etree

from workflows.errors import SpecError

MAX_FILE_BYTES = 2 * 1024 * 1024
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def parse_xml(content: bytes, *, file: str) -> tuple[etree._Element | None, list[SpecError]]:
    """Parse ``content`` or say why not; never resolves anything outside the bytes given."""
    if len(content) > MAX_FILE_BYTES:
        return None, [SpecError(f"file is larger than {MAX_FILE_BYTES} bytes", file=file)]
    if _DOCTYPE.search(content):
        return None, [SpecError("DOCTYPE and ENTITY declarations are not allowed", file=file)]
    try:
        root = etree.fromstring(content, parser=_parser())
    except etree.XMLSyntaxError as exc:
        return None, [SpecError(f"not well-formed XML: {exc}", file=file)]
    if root.getroottree().docinfo.doctype:
        return None, [SpecError("DOCTYPE declarations are not allowed", file=file)]
    return root, []
