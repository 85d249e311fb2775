"""CAP 1.2 alerts: parsed safely, checked, and read as a bulletin would need them.

Pure functions with no store access, so they can be tested and reused (a CAP file import, a
pull from an upstream feed) without the web layer. Every problem is a ``Invalid`` (hub.plugin_api)
(422) that says what is wrong.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from hub.plugin_api import LOCAL_TZ, Invalid

from .schema import check_cap12

CAP_12 = "urn:oasis:names:tc:emergency:cap:1.2"
#: CAP 1.1 has the same shape for every element read here; upstream systems still send it.
NAMESPACES = (CAP_12, "urn:oasis:names:tc:emergency:cap:1.1")

STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPES = ("Public", "Restricted", "Private")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
YEARS = (1970, 2999)


@dataclass(frozen=True)
class Geocode:
    value_name: str
    value: str


@dataclass(frozen=True)
class Area:
    desc: str
    geocodes: tuple[Geocode, ...] = ()
    #: The area also (or only) has a polygon or circle, which the hub does not map to communes.
    has_shape: bool = False


@dataclass(frozen=True)
class Info:
    language: str
    event: str
    urgency: str
    severity: str
    certainty: str
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    areas: tuple[Area, ...] = ()
    #: Every <category> (at least one in a schema-valid alert).
    categories: tuple[str, ...] = ()

    @property
    def is_vietnamese(self) -> bool:
        lang = self.language.lower()
        return lang == "vi" or lang.startswith("vi-")


@dataclass(frozen=True)
class Reference:
    """One ``sender,identifier,sent`` triple of an alert's ``references``."""

    sender: str
    identifier: str
    sent: str

    @property
    def source_ref(self) -> str:
        return f"{self.sender},{self.identifier}"


@dataclass(frozen=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str | None
    references: tuple[Reference, ...] = ()
    infos: tuple[Info, ...] = field(default=())

    @property
    def source_ref(self) -> str:
        """The bulletin's ``source_ref``: a sender's identifiers are unique, so the pair names one alert."""
        return f"{self.sender},{self.identifier}"

    @property
    def info(self) -> Info | None:
        """The Vietnamese info block if there is one, else the first."""
        return next((info for info in self.infos if info.is_vietnamese), self.infos[0] if self.infos else None)


def priority_for(severity: str, urgency: str) -> tuple[str, str]:
    """The hub priority for a CAP severity and urgency, and a sentence saying why (docs/ingest.md has the table)."""
    if severity in ("Extreme", "Severe") and urgency == "Immediate":
        priority = "emergency"
    elif severity in ("Extreme", "Severe"):
        priority = "priority"
    elif severity == "Moderate" and urgency in ("Immediate", "Expected"):
        priority = "priority"
    else:
        priority = "normal"
    return priority, f"severity {severity}, urgency {urgency} → {priority}"


def parse(data: bytes) -> Alert:
    """Parse and check one CAP alert; Invalid names everything that is wrong with it."""
    root = _parse_xml(data)
    namespace, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if local != "alert" or namespace not in NAMESPACES:
        raise Invalid(f"not a CAP alert: the root element must be <alert xmlns=\"{CAP_12}\">, not <{root.tag}>")
    reader = _Reader(namespace)
    missing: list[str] = []
    problems: list[str] = []

    def need(element: Element, name: str, where: str = "") -> str:
        value = reader.text(element, name)
        if value is None:
            missing.append(where + name)
            return ""
        return value

    identifier = need(root, "identifier")
    sender = need(root, "sender")
    sent_text = need(root, "sent")
    status = need(root, "status")
    msg_type = need(root, "msgType")
    scope = reader.text(root, "scope")
    for name, value, allowed in (("status", status, STATUSES), ("msgType", msg_type, MSG_TYPES),
                                 ("scope", scope, SCOPES)):
        if value and value not in allowed:
            problems.append(f"{name} {value!r} is not one of {', '.join(allowed)}")
    for name, value in (("identifier", identifier), ("sender", sender)):
        # CAP forbids these in both; the hub's source_ref and references depend on it.
        if any(ch in value for ch in " ,<&") or any(ch.isspace() for ch in value):
            problems.append(f"{name} must not contain spaces, commas, '<' or '&'")
    sent = _datetime(sent_text, "sent", problems) if sent_text else None

    references = _references(reader.text(root, "references"), problems)
    if msg_type in ("Update", "Cancel") and not references:
        missing.append("references (an Update or Cancel must name the alert it changes)")

    infos = []
    for number, element in enumerate(reader.all(root, "info"), start=1):
        where = f"info[{number}]/"
        info = Info(
            language=reader.text(element, "language") or "en-US",
            event=need(element, "event", where),
            urgency=need(element, "urgency", where),
            severity=need(element, "severity", where),
            certainty=need(element, "certainty", where),
            headline=reader.text(element, "headline"),
            description=reader.text(element, "description"),
            instruction=reader.text(element, "instruction"),
            effective=_optional_datetime(reader.text(element, "effective"), where + "effective", problems),
            onset=_optional_datetime(reader.text(element, "onset"), where + "onset", problems),
            expires=_optional_datetime(reader.text(element, "expires"), where + "expires", problems),
            areas=tuple(_area(reader, area) for area in reader.all(element, "area")),
            categories=tuple(text for category in reader.all(element, "category")
                             if (text := (category.text or "").strip())),
        )
        for name, value, allowed in (("urgency", info.urgency, URGENCIES), ("severity", info.severity, SEVERITIES),
                                     ("certainty", info.certainty, CERTAINTIES)):
            if value and value not in allowed:
                problems.append(f"{where}{name} {value!r} is not one of {', '.join(allowed)}")
        infos.append(info)

    alert = Alert(identifier=identifier, sender=sender, sent=sent or datetime.min, status=status,
                  msg_type=msg_type, scope=scope, references=references, infos=tuple(infos))
    if msg_type in ("Alert", "Update"):
        if not infos:
            missing.append("info (an Alert or Update needs at least one info block)")
        elif not alert.info.areas:
            missing.append(f"info[{infos.index(alert.info) + 1}]/area")
    if missing or problems:
        parts = []
        if missing:
            parts.append("missing: " + "; ".join(missing))
        parts.extend(problems)
        raise Invalid("CAP alert is not usable: " + "; ".join(parts))
    if namespace == CAP_12:
        # After the hub's own reads, which name everything missing at once; the schema then
        # catches what they pass over (element order, unknown elements, fields the hub ignores).
        check_cap12(data)
    return alert


def _parse_xml(data: bytes) -> Element:
    if not data.strip():
        raise Invalid("empty body: expected a CAP 1.2 XML alert")
    try:
        # forbid_dtd: CAP needs no DOCTYPE, and refusing it outright stops entity expansion
        # ("billion laughs") and external entities (XXE) before a single entity is read.
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise Invalid("XML with a DOCTYPE is refused: CAP needs no DTD, and DTDs carry entity expansion "
                      "and external entity attacks") from None
    except defusedxml.EntitiesForbidden:
        raise Invalid("XML entity declarations are refused (entity expansion attack)") from None
    except defusedxml.ExternalReferenceForbidden:
        raise Invalid("XML external references are refused (external entity attack)") from None
    except (ParseError, ValueError, UnicodeError) as exc:
        raise Invalid(f"malformed XML: {exc}") from None


class _Reader:
    """Reads CAP child elements in one namespace, with whitespace trimmed and empty meaning absent."""

    def __init__(self, namespace: str) -> None:
        self.prefix = f"{{{namespace}}}" if namespace else ""

    def all(self, element: Element, name: str) -> list[Element]:
        return element.findall(self.prefix + name)

    def text(self, element: Element, name: str) -> str | None:
        child = element.find(self.prefix + name)
        if child is None or child.text is None:
            return None
        value = unicodedata.normalize("NFC", child.text).strip()
        return value or None


def _area(reader: _Reader, element: Element) -> Area:
    geocodes = []
    for geocode in reader.all(element, "geocode"):
        name, value = reader.text(geocode, "valueName"), reader.text(geocode, "value")
        if name and value:
            geocodes.append(Geocode(name, value))
    has_shape = bool(reader.all(element, "polygon") or reader.all(element, "circle"))
    return Area(desc=reader.text(element, "areaDesc") or "", geocodes=tuple(geocodes), has_shape=has_shape)


def _references(text: str | None, problems: list[str]) -> tuple[Reference, ...]:
    if not text:
        return ()
    references = []
    for triple in text.split():
        parts = triple.split(",")
        if len(parts) != 3 or not all(parts):
            problems.append(f"references: {triple!r} is not sender,identifier,sent")
            continue
        references.append(Reference(*parts))
    return tuple(references)


def _datetime(text: str, where: str, problems: list[str]) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        problems.append(f"{where}: {text!r} is not a CAP date-time such as 2026-10-12T08:00:00+07:00")
        return None
    if value.tzinfo is None:
        # CAP requires an offset; a sender that leaves it out means local time (DESIGN rule 7).
        value = value.replace(tzinfo=LOCAL_TZ)
    if not YEARS[0] <= value.year <= YEARS[1]:
        problems.append(f"{where}: the year must be between {YEARS[0]} and {YEARS[1]}")
        return None
    return value


def _optional_datetime(text: str | None, where: str, problems: list[str]) -> datetime | None:
    return _datetime(text, where, problems) if text else None
