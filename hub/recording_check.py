"""Checking a bulletin's recording by ear: a durable job that a speech checker runs in the worker.

When a recording is attached (and again when a revision with one is submitted, since its text may
have changed), the revision gets ``recording_check = {"status": "pending"}`` and a job named
:data:`CHECK_JOB` beside its render jobs. A worker runs the registered speech checker (the hub_asr
plugin) on the recording against the revision's spoken text — the title and body through every
registered normaliser step, as the speech renderer reads them — and stores
``{"status": "done", "transcript", "wer", "matches"}``; after the last failed attempt,
``{"status": "failed", "error"}``. Nothing is checked when no checker is registered.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Bulletin, Job, Revision
from hub.plugin_types import PRIORITY_RANK

log = logging.getLogger(__name__)

#: The job's name in the jobs table; no renderer may have it (renderer names have no hyphen).
CHECK_JOB = "recording-check"
HOOK = "hub_register_speech_checkers"


def checkers(hook: Any) -> list[Any]:
    """The registered speech checkers (``hook``: the hub's :class:`~hub.plugins.Registrations`)."""
    return list(hook.named(HOOK).values())


def spoken_text(hook: Any, title: str, body: str) -> str:
    """What a voice reading this revision would say: the title as its own sentence, then the body,
    each line through every normaliser step (as the speech renderer does)."""
    title = title.strip()
    if title and title[-1] not in ".!?…:;":
        title += "."
    lines = [line.strip() for line in f"{title}\n{body}".replace("\r\n", "\n").split("\n") if line.strip()]
    steps = hook.text_normalizers()
    out = []
    for line in lines:
        for step in steps:
            line = step.normalize(line)
        out.append(line.strip())
    return "\n".join(line for line in out if line)


def queue(session: Session, bulletin: Bulletin, revision: Revision, hook: Any) -> bool:
    """Mark the revision's recording pending and queue its check (idempotent); False when there is
    no recording or no checker."""
    if not revision.recording_sha256 or not checkers(hook):
        return False
    exists = session.scalar(select(Job.id).where(
        Job.bulletin_id == bulletin.id, Job.revision == revision.revision, Job.renderer == CHECK_JOB))
    if exists is not None:
        return False
    revision.recording_check = {"status": "pending"}
    session.add(Job(bulletin_id=bulletin.id, revision=revision.revision, renderer=CHECK_JOB,
                    priority=PRIORITY_RANK.get(revision.priority, 2)))
    return True


def blocking_reason(revision: Revision, hook: Any) -> str | None:
    """Why approval must wait, when a checker blocks and the recording does not (yet) match."""
    if not revision.recording_sha256 or not any(c.block for c in checkers(hook)):
        return None
    check = revision.recording_check or {}
    if check.get("status") == "done":
        if check.get("matches"):
            return None
        return (f"the recording does not match the text (word error rate {check.get('wer'):.2f}); "
                f"heard: {check.get('transcript') or '(nothing)'}")
    if check.get("status") == "failed":
        return f"the recording could not be checked: {check.get('error') or 'unknown error'}"
    return "the recording has not been checked against the text yet; try again in a moment"


def run(pipeline: Any, job: Job) -> None:
    """Check one revision's recording (in the worker) and store the result on the revision."""
    with pipeline.store.reader() as session:
        revision = session.scalars(select(Revision).where(
            Revision.bulletin_id == job.bulletin_id, Revision.revision == job.revision)).one()
        sha256, title, body = revision.recording_sha256, revision.title, revision.body
    found = checkers(pipeline.hook)
    if not sha256 or not found:
        result: dict[str, Any] = {"status": "done", "transcript": "", "wer": None, "matches": True}
    else:
        path = pipeline.media.path(sha256)
        if path is None:
            raise FileNotFoundError(f"recording {sha256} is not in the media store")
        try:
            check = found[0].check(Path(path), spoken_text(pipeline.hook, title, body))
        except Exception as exc:
            if job.attempts >= pipeline.settings.job_max_attempts:
                _store(pipeline, job, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]})
            raise
        result = {"status": "done", "transcript": check.transcript, "wer": round(check.wer, 3),
                  "matches": bool(check.matches)}
    _store(pipeline, job, result)


def _store(pipeline: Any, job: Job, result: dict[str, Any]) -> None:
    with pipeline.store.session() as session:
        revision = session.scalars(select(Revision).where(
            Revision.bulletin_id == job.bulletin_id, Revision.revision == job.revision)).one()
        revision.recording_check = result
    log.info("recording check of %s r%d: %s", job.bulletin_id, job.revision,
             {k: v for k, v in result.items() if k != "transcript"})
