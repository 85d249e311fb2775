"""HTTP routes of the speech plugin: pronunciation preview, recordings, uploaded programme audio."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hub import bulletins as service
from hub.api.bulletins import bulletin_view
from hub.api.deps import CurrentUser, HubDep
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.models import Commune, MediaObject
from hub_speech.audio import AudioSettings, check_upload
from hub_speech.chain import normalize_text
from hub_speech.renderer import process_upload

MIME = {"MP3": "audio/mpeg", "WAV": "audio/wav", "M4A": "audio/mp4", "OGG": "audio/ogg"}


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)


def _spool(upload: UploadFile, folder: Path) -> Path:
    """Copy the upload to a file of our own (the size limit is the app's, on the request body)."""
    path = folder / "upload"
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    return path


def build_router() -> APIRouter:
    router = APIRouter(tags=["speech"])

    @router.post("/api/v1/speech/preview")
    def preview(payload: PreviewIn, hub: HubDep, _user: CurrentUser) -> dict[str, str]:
        """The normalised text the voice would read; no audio is made."""
        if "\x00" in payload.text:
            raise Invalid("text must not contain NUL characters")
        return {"spoken_text": normalize_text(hub.pipeline.hook, hub.settings, payload.text)}

    @router.post("/api/v1/bulletins/{bulletin_id}/recording")
    async def attach_recording(bulletin_id: str, hub: HubDep, user: CurrentUser,
                               file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        """Air an uploaded recording instead of synthesised speech: a new revision, to be approved."""
        with tempfile.TemporaryDirectory(prefix="hub-recording-") as tmp:
            path = await run_in_threadpool(_spool, file, Path(tmp))
            # Check who may edit before the (slow) decoding, and again when writing.
            await run_in_threadpool(_may_edit, hub, user, bulletin_id)
            try:
                kind, duration = await run_in_threadpool(check_upload, path, AudioSettings())
            except ValueError as exc:
                raise Invalid(str(exc)) from None
            sha256 = await run_in_threadpool(hub.media.put_file, path)
        return await run_in_threadpool(_set_recording, hub, user, bulletin_id, sha256, kind, duration)

    @router.delete("/api/v1/bulletins/{bulletin_id}/recording")
    def remove_recording(bulletin_id: str, hub: HubDep, user: CurrentUser) -> dict[str, Any]:
        with hub.store.session() as session:
            bulletin = service.edit(session, user, bulletin_id, {"recording_sha256": None})
            session.flush()
            return bulletin_view(session, bulletin)

    @router.post("/api/v1/media", status_code=201)
    async def upload_media(hub: HubDep, user: CurrentUser, file: Annotated[UploadFile, File()],
                           commune: Annotated[str | None, Form(max_length=32)] = None,
                           title: Annotated[str | None, Form(max_length=200)] = None) -> dict[str, Any]:
        """Programme audio (a station jingle, a recorded announcement), mastered like speech."""
        user.require("admin", "editor", "operator")
        if user.role == "operator":
            commune = commune or user.commune
        if commune is not None:
            await run_in_threadpool(_check_commune, hub, user, commune)
        with tempfile.TemporaryDirectory(prefix="hub-media-") as tmp:
            path = await run_in_threadpool(_spool, file, Path(tmp))
            try:
                media = await run_in_threadpool(process_upload, path, hub.settings,
                                                title=title or Path(file.filename or "audio").stem)
            except ValueError as exc:
                raise Invalid(str(exc)) from None
        sha256 = await run_in_threadpool(hub.media.put, media.data)
        return await run_in_threadpool(_record_media, hub, user, sha256, media, commune, title)

    return router


def _may_edit(hub, user, bulletin_id: str) -> None:
    with hub.store.reader() as session:
        bulletin = service.visible(session, user, bulletin_id)
        if bulletin.status == "withdrawn":
            raise Conflict("cannot edit a bulletin that is withdrawn")
        user.require("admin", "editor", "operator")
        if user.role not in ("admin", "editor") and bulletin.author_id != user.id:
            raise Forbidden("only the author or an editor may change this bulletin")


def _set_recording(hub, user, bulletin_id: str, sha256: str, kind: str, duration: float) -> dict[str, Any]:
    with hub.store.session() as session:
        if session.get(MediaObject, sha256) is None:
            session.add(MediaObject(sha256=sha256, bytes=hub.media.path(sha256).stat().st_size, mime=MIME[kind],
                                    meta={"duration_s": round(duration, 3), "role": "recording"},
                                    uploaded_by=user.id))
        bulletin = service.edit(session, user, bulletin_id, {"recording_sha256": sha256})
        session.flush()
        return bulletin_view(session, bulletin)


def _check_commune(hub, user, commune: str) -> None:
    with hub.store.reader() as session:
        if session.get(Commune, commune) is None or not user.sees_commune(commune):
            raise NotFound(f"unknown commune: {commune}")


def _record_media(hub, user, sha256: str, media, commune: str | None, title: str | None) -> dict[str, Any]:
    with hub.store.session() as session:
        row = session.get(MediaObject, sha256)
        if row is None:
            row = MediaObject(sha256=sha256, bytes=len(media.data), mime=media.mime,
                              meta={**media.meta, "title": title}, uploaded_by=user.id, commune=commune)
            session.add(row)
        view = {"sha256": sha256, "url": f"/media/{sha256}", "bytes": row.bytes, "mime": row.mime,
                "commune": row.commune, **{k: v for k, v in (row.meta or {}).items()
                                          if k in ("duration_s", "loudness_lufs", "true_peak_dbtp", "title")}}
    return view
