"""A checked CAP alert applied to the store: a new bulletin, an edit of one, or its withdrawal.

Who acts is always explicit in the audit log. An editor who posts an alert is its author. An
upstream key writes as the system principal ``cap:<key>``; if the key is trusted, a second system
principal ``cap:<key>:auto-approve`` approves, with a reason naming the setting that allowed it,
so four eyes remain two distinct principals on record. Every processed CAP message also leaves
one ``cap_message`` audit row (object id: sha256 of ``sender,identifier``), which makes Updates
and Cancels idempotent and maps later references back to their bulletin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.plugin_api import Forbidden, Hub, Invalid, Principal, Transaction, utcnow

from . import cap
from .settings import IngestKey, IngestSettings
from .text import fit, fit_title, tidy

SOURCE = "cap"
CHANNELS = ["speaker", "display", "web"]
LEDGER = "cap_message"


@dataclass(frozen=True)
class Caller:
    """Who posted: an editor or admin, or an upstream system by its key."""

    user: Principal | None = None
    key: IngestKey | None = None

    @property
    def label(self) -> str:
        return f"key {self.key.name}" if self.key else f"user {self.user.name}"


@dataclass
class Plan:
    content: Any
    priority_reason: str
    unmapped: list[dict[str, Any]]
    truncated: bool


@dataclass
class Outcome:
    status_code: int
    body: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def plan(hub: Hub, settings: IngestSettings, alert: cap.Alert, tx: Transaction | None = None) -> Plan:
    """The bulletin content an Alert or Update asks for; Invalid if it reaches no known commune."""
    info = alert.info
    assert info is not None  # parse() guarantees an info block for Alert and Update
    names = {name.casefold() for name in settings.geocode_names}
    unmapped: list[dict[str, Any]] = []
    candidates: list[tuple[cap.Area, cap.Geocode]] = []
    for area in info.areas:
        if not area.geocodes:
            reason = "no geocode" + ("; polygons and circles are not mapped to communes" if area.has_shape else "")
            unmapped.append({"area": area.desc, "valueName": None, "value": None, "reason": reason})
        for geocode in area.geocodes:
            if geocode.value_name.casefold() in names:
                candidates.append((area, geocode))
            else:
                unmapped.append({"area": area.desc, "valueName": geocode.value_name, "value": geocode.value,
                                 "reason": "geocode valueName is not one of HUB_INGEST_GEOCODE_NAMES"})
    codes = {geocode.value for _area, geocode in candidates}
    known = hub.services.directory.known_communes(codes, tx=tx)
    targets: list[str] = []
    for area, geocode in candidates:
        if geocode.value in known:
            if geocode.value not in targets:
                targets.append(geocode.value)
        else:
            unmapped.append({"area": area.desc, "valueName": geocode.value_name, "value": geocode.value,
                             "reason": "no commune with this code"})
    if not targets:
        listed = "; ".join(f"{u['area'] or '?'} ({_geocode(u)}{u['reason']})" for u in unmapped)
        raise Invalid(f"no area of the alert maps to a commune this hub knows: {listed}", unmapped=unmapped)

    priority, reason = cap.priority_for(info.severity, info.urgency)
    title = fit_title(tidy(info.headline or info.event).replace("\n", " "), hub.services.bulletins.TITLE_MAX)
    body = "\n\n".join(tidy(part) for part in (info.description, info.instruction) if part) or title
    body, truncated = fit(body, hub.services.bulletins.BODY_MAX)
    content = hub.services.bulletins.Content(
        title=title, body=body, priority=priority, channels=list(CHANNELS), targets=targets,
        # effective, not onset: a warning must air before the event it warns of begins.
        valid_from=info.effective, valid_until=info.expires,
        # Passed through to the hub's own CAP out: what happened and what to do, as the sender said.
        cap_event=fit_title(tidy(info.event).replace("\n", " "), hub.services.bulletins.CAP_EVENT_MAX) if info.event else None,
        cap_category=next((c for c in info.categories if c in hub.services.bulletins.CAP_CATEGORIES), None),
        instruction=fit(tidy(info.instruction), hub.services.bulletins.INSTRUCTION_MAX)[0] if info.instruction else None,
    )
    return Plan(content, reason, unmapped, truncated)


def _geocode(unmapped: dict[str, Any]) -> str:
    return f"{unmapped['valueName']}={unmapped['value']}: " if unmapped["valueName"] is not None else ""


def apply(hub: Hub, settings: IngestSettings, caller: Caller, alert: cap.Alert) -> Outcome:
    """Apply one checked alert in one transaction (approval's after-effects run after its commit)."""
    if alert.msg_type in ("Alert", "Update") and alert.scope in ("Restricted", "Private"):
        raise Invalid(f"scope {alert.scope}: only Public alerts may be broadcast")
    cap_view = {"identifier": alert.identifier, "sender": alert.sender, "sent": alert.sent,
                "status": alert.status, "msgType": alert.msg_type}

    if alert.status != "Actual":
        # Checked as fully as a real alert, so an upstream system can test its integration, but
        # nothing is written: an exercise must never be able to reach a loudspeaker.
        body: dict[str, Any] = {"created": False, "cap": cap_view,
                                "note": f"status {alert.status}: checked, nothing created; only Actual alerts "
                                        "become bulletins"}
        if alert.msg_type in ("Alert", "Update"):
            trial = plan(hub, settings, alert)
            body.update(would_create=_content_view(hub, trial.content), priority_reason=trial.priority_reason,
                        unmapped=trial.unmapped, truncated=trial.truncated)
        return Outcome(202, body)
    if alert.msg_type in ("Ack", "Error"):
        return Outcome(202, {"created": False, "cap": cap_view,
                             "note": f"msgType {alert.msg_type} carries nothing to broadcast; nothing changed"})

    info = alert.info
    if alert.msg_type in ("Alert", "Update") and info is not None and info.expires is not None \
            and info.expires <= utcnow():
        # An alert that has run out must not wait in the approval queue, nor air late.
        return Outcome(202, {"created": False, "cap": cap_view, "expired": True,
                             "note": f"expired at {info.expires.isoformat()}: nothing created"})

    bulletins = hub.services.bulletins
    with hub.services.transaction() as tx:
        seen = hub.services.sources.ledger_entry(LEDGER, alert.source_ref, tx=tx)
        if seen is not None:
            bulletin = bulletins.find(seen["bulletin_id"], tx=tx)
            if bulletin is not None:
                return Outcome(200, _view(bulletin, cap_view, seen, note="already processed"))

        actor = caller.user or hub.services.sources.system_principal(f"cap:{caller.key.name}", tx=tx)
        target = _referenced(hub, alert, tx) if alert.msg_type in ("Update", "Cancel") else None
        notes: list[str] = []
        if alert.msg_type == "Cancel":
            if target is None:
                refs = " ".join(f"{r.sender},{r.identifier},{r.sent}" for r in alert.references)
                raise Invalid(f"the Cancel references no alert this hub holds: {refs}")
            _may_change(caller, actor, target)
            if target["status"] != "withdrawn":
                target = bulletins.withdraw(actor, target["id"], reason=f"CAP Cancel {alert.source_ref} ({caller.label})",
                                            tx=tx)
            return _finish(hub, tx, alert, actor, target, 200, cap_view, None, notes)

        trial = plan(hub, settings, alert, tx)
        if alert.msg_type == "Update" and target is not None:
            _may_change(caller, actor, target)
            changes = {name: getattr(trial.content, name)
                       for name in ("title", "body", "priority", "targets", "valid_from", "valid_until")}
            bulletin = bulletins.edit(actor, target["id"], changes, tx=tx)
            if bulletin["status"] == "draft":
                bulletin = bulletins.submit(actor, bulletin["id"], tx=tx)
            status_code = 200
        else:
            if alert.msg_type == "Update":
                notes.append("the Update references no alert this hub holds; it was taken as a new alert")
            bulletin, created = bulletins.ingest(actor, trial.content, source=SOURCE, source_ref=alert.source_ref,
                                                 tx=tx)
            if not created:
                return Outcome(200, _view(bulletin, cap_view, _plan_detail(trial), note="already processed"))
            status_code = 201
        if bulletin["status"] == "pending" and settings.is_trusted(caller.key):
            bulletin = _auto_approve(hub, tx, caller.key, bulletin)
            notes.append(f"approved on arrival: key {caller.key.name!r} is listed in HUB_INGEST_TRUSTED")
        return _finish(hub, tx, alert, actor, bulletin, status_code, cap_view, trial, notes)


def _auto_approve(hub: Hub, tx: Transaction, key: IngestKey, bulletin: dict[str, Any]) -> dict[str, Any]:
    approver = hub.services.sources.system_principal(f"cap:{key.name}:auto-approve", tx=tx)
    return hub.services.bulletins.approve(
        approver, bulletin["id"], reason=f"auto-approved: upstream key {key.name!r} is listed in HUB_INGEST_TRUSTED",
        tx=tx)


def _may_change(caller: Caller, actor: Principal, target: dict[str, Any]) -> None:
    # One upstream system must not be able to rewrite or cancel another's alerts by naming them.
    if caller.key is not None and target["author"] != actor.id:
        raise Forbidden(f"key {caller.key.name!r} may update or cancel only the alerts it sent itself")


def _referenced(hub: Hub, alert: cap.Alert, tx: Transaction) -> dict[str, Any] | None:
    """The bulletin the newest resolvable reference names (by ledger, else by source_ref)."""
    for reference in reversed(alert.references):
        seen = hub.services.sources.ledger_entry(LEDGER, reference.source_ref, tx=tx)
        if seen is not None and (bulletin := hub.services.bulletins.find(seen["bulletin_id"], tx=tx)) is not None:
            return bulletin
        bulletin = hub.services.bulletins.by_source(SOURCE, reference.source_ref, tx=tx)
        if bulletin is not None:
            return bulletin
    return None


def _plan_detail(trial: Plan | None) -> dict[str, Any]:
    if trial is None:
        return {"priority_reason": None, "unmapped": [], "truncated": False}
    return {"priority_reason": trial.priority_reason, "unmapped": trial.unmapped, "truncated": trial.truncated}


def _finish(hub: Hub, tx: Transaction, alert: cap.Alert, actor: Principal, bulletin: dict[str, Any],
            status_code: int, cap_view: dict[str, Any], trial: Plan | None, notes: list[str]) -> Outcome:
    detail = {"sender": alert.sender, "identifier": alert.identifier, "sent": alert.sent.isoformat(),
              "msgType": alert.msg_type, "bulletin_id": bulletin["id"],
              "references": [r.source_ref for r in alert.references], **_plan_detail(trial)}
    hub.services.sources.record_ledger(tx, actor, LEDGER, alert.source_ref, detail)
    body = _view(bulletin, cap_view, detail, note="; ".join(notes) or None)
    return Outcome(status_code, body, notes)


def _view(bulletin: dict[str, Any], cap_view: dict[str, Any], detail: dict[str, Any],
          note: str | None) -> dict[str, Any]:
    return {**bulletin, "cap": cap_view,
            "priority_reason": detail.get("priority_reason"), "unmapped": detail.get("unmapped", []),
            "truncated": detail.get("truncated", False), "note": note}


def _content_view(hub: Hub, content: Any) -> dict[str, Any]:
    return {name: getattr(content, name) for name in hub.services.bulletins.CONTENT_FIELDS}
