"""HTTP routes of the speech plugin: pronunciation preview, recordings, uploaded programme audio.

Each route reads the request, does the plugin's own slow work (decoding, mastering) and leaves
every check and write to the hub's services (``hub.services.media``, ``hub.services.bulletins``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hub.plugin_api import CurrentUser, HubDep, Invalid, refuse_nul
from hub_speech.audio import SpeechSettings, check_upload
from hub_speech.chain import SpeechUnavailable, normalize_text, unread_words
from hub_speech.renderer import process_upload, synthesize_to_mp3

MIME = {"MP3": "audio/mpeg", "WAV": "audio/wav", "M4A": "audio/mp4", "OGG": "audio/ogg"}


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)


#: The longest text the console may ask to hear (a bulletin's opening, not a whole programme).
LISTEN_MAX_CHARS = 2_000


class ListenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=LISTEN_MAX_CHARS)
    voice: str | None = Field(default=None, max_length=100)


def _spool(upload: UploadFile, folder: Path) -> Path:
    """Copy the upload to a file of our own (the size limit is the app's, on the request body)."""
    path = folder / "upload"
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    return path


def build_router() -> APIRouter:
    router = APIRouter(tags=["speech"])

    @router.post("/api/v1/speech/preview")
    def preview(payload: PreviewIn, hub: HubDep, _user: CurrentUser) -> dict[str, Any]:
        """The normalised text the voice would read, and the words it could not read; no audio."""
        refuse_nul("text", payload.text)
        spoken = normalize_text(hub.registrations, hub.settings, payload.text)
        return {"spoken_text": spoken, "unread": unread_words(hub.registrations, hub.settings, spoken)}

    @router.post("/api/v1/speech/preview.mp3", response_class=Response,
                 responses={200: {"content": {"audio/mpeg": {}}}})
    async def preview_mp3(payload: ListenIn, hub: HubDep, _user: CurrentUser) -> Response:
        """The text spoken as the loudspeaker would air it: the renderer's own chain and caches."""
        refuse_nul("text", payload.text)
        hooks = hub.registrations
        try:
            media = await run_in_threadpool(synthesize_to_mp3, hooks, hub.settings, payload.text,
                                            voice=payload.voice)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        except SpeechUnavailable:
            if payload.voice is None:
                raise  # the engines are down: the hub's trouble, not the request's
            # A voice no engine has is bad input (schemathesis found this 500, issue 14).
            raise Invalid(f"no speech engine here has the voice {payload.voice!r}") from None
        return Response(media.data, media_type="audio/mpeg", headers={"Cache-Control": "no-store"})

    @router.post("/api/v1/bulletins/{bulletin_id}/recording")
    async def attach_recording(bulletin_id: str, hub: HubDep, user: CurrentUser,
                               file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        """Air an uploaded recording instead of synthesised speech: a new revision, to be approved."""
        media = hub.services.media
        with tempfile.TemporaryDirectory(prefix="hub-recording-") as tmp:
            path = await run_in_threadpool(_spool, file, Path(tmp))
            # Check who may edit before the (slow) decoding; the service checks again when writing.
            await run_in_threadpool(media.check_may_edit, user, bulletin_id)
            with hub.media.work.slot(user.commune):  # 429 past the bound (hub.media.AudioWork)
                try:
                    kind, duration = await run_in_threadpool(check_upload, path, SpeechSettings())
                except ValueError as exc:
                    raise Invalid(str(exc)) from None
            sha256 = await run_in_threadpool(hub.media.put_file, path)
        return await run_in_threadpool(media.record_recording, user, bulletin_id, sha256, MIME[kind], duration)

    @router.delete("/api/v1/bulletins/{bulletin_id}/recording")
    def remove_recording(bulletin_id: str, hub: HubDep, user: CurrentUser) -> dict[str, Any]:
        return hub.services.media.remove_recording(user, bulletin_id)

    @router.post("/api/v1/media", status_code=201)
    async def upload_media(hub: HubDep, user: CurrentUser, file: Annotated[UploadFile, File()],
                           commune: Annotated[str | None, Form(max_length=32)] = None,
                           title: Annotated[str | None, Form(max_length=200)] = None) -> dict[str, Any]:
        """Programme audio (a station jingle, a recorded announcement), mastered like speech."""
        service = hub.services.media
        # Before the (slow) mastering: may this caller upload, and for which commune?
        commune = await run_in_threadpool(service.upload_commune, user, commune)
        with tempfile.TemporaryDirectory(prefix="hub-media-") as tmp:
            path = await run_in_threadpool(_spool, file, Path(tmp))
            # A commune over its quota is told before minutes of mastering (checked again on writing).
            await run_in_threadpool(service.check_quota, commune, 1)
            with hub.media.work.slot(commune):
                try:
                    media = await run_in_threadpool(process_upload, path, hub.settings,
                                                    title=title or Path(file.filename or "audio").stem)
                except ValueError as exc:
                    raise Invalid(str(exc)) from None
        sha256 = await run_in_threadpool(hub.media.put, media.data)
        stored = await run_in_threadpool(service.record_upload, user, sha256, media, commune, title)
        return _upload_view(stored)

    return router


#: What an upload's answer shows of the stored file's fields, in this order.
UPLOAD_FIELDS = ("duration_s", "loudness_lufs", "true_peak_dbtp", "title")


def _upload_view(stored: dict[str, Any]) -> dict[str, Any]:
    meta = stored["meta"]
    return {**{k: stored[k] for k in ("sha256", "url", "bytes", "mime", "commune")},
            **{k: meta[k] for k in UPLOAD_FIELDS if k in meta}}
