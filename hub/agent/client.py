"""HTTP to the hub: the device endpoints of CONTRACT.md §Devices, with the device token."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from hub import __version__


class HubDown(Exception):
    """The hub could not be reached or answered with a server error: retry later."""


class Refused(Exception):
    """The hub answered with a client error (4xx): retrying the same request will not help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status


@dataclass(frozen=True)
class ManifestResponse:
    #: None when the hub said 304 Not Modified.
    body: bytes | None
    etag: str | None
    #: Local wall-clock seconds when the request left and when the answer arrived (see Clock).
    sent: float
    received: float
    #: The hub's clock from the X-Server-Time header (also on a 304), if it sent one.
    server_time: datetime | None = None
    #: X-Hub-Signature over the body (hub/signing.py), if the hub sent one.
    signature: str | None = None


_tls_lock = threading.Lock()


def tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: making one reads the whole CA bundle
    (60 ms of CPU here), and an agent makes a client per thread, all at once when it starts."""
    with _tls_lock:
        return _new_tls_context()


@functools.cache
def _new_tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


class HubClient:
    """One per thread: httpx clients share connections, and a stream holds one for minutes."""

    def __init__(self, server: str, token: str, *, timeout: float = 15.0) -> None:
        self.server = server.rstrip("/")
        self._stream: httpx.Response | None = None
        #: The reconnection delay the event stream asked for (its ``retry:`` field), in seconds.
        self.retry_s: float | None = None
        self._auth = {"Authorization": f"Bearer {token}"}
        self._http = httpx.Client(base_url=self.server, timeout=timeout, verify=tls_context(),
                                  headers={"User-Agent": f"grassroots-hub-agent/{__version__}"})

    def close(self) -> None:
        self._http.close()

    def _headers(self, url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        # The token goes to the hub only, never to a CDN or other host a manifest might name.
        target = urlsplit(url)
        same = not target.netloc or target.netloc == urlsplit(self.server).netloc
        return {**(self._auth if same else {}), **(extra or {})}

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, headers=self._headers(url, kwargs.pop("headers", None)),
                                          **kwargs)
        except httpx.HTTPError as exc:
            raise HubDown(f"{method} {url}: {exc.__class__.__name__}: {exc}") from exc
        _check(response)
        return response

    def manifest(self, etag: str | None, *, local: Callable[[], float] = time.time) -> ManifestResponse:
        """The manifest; ``local`` is the device clock the round trip is timed with (see Clock)."""
        headers = {"If-None-Match": etag} if etag else {}
        sent = local()
        response = self._send("GET", "/api/v1/device/manifest", headers=headers)
        received = local()
        server_time = _parse_time(response.headers.get("x-server-time"))
        if response.status_code == 304:
            return ManifestResponse(None, etag, sent, received, server_time)
        return ManifestResponse(response.content, response.headers.get("etag"), sent, received, server_time,
                                response.headers.get("x-hub-signature"))

    def keys(self) -> tuple[bytes, str | None]:
        """The hub's signing keys (``GET /api/v1/device/keys``) and the signature over them."""
        response = self._send("GET", "/api/v1/device/keys")
        return response.content, response.headers.get("x-hub-signature")

    def heartbeat(self, payload: dict[str, Any]) -> None:
        self._send("POST", "/api/v1/device/heartbeat", json=payload)

    def plays(self, reports: list[dict[str, Any]]) -> dict[str, int]:
        return self._send("POST", "/api/v1/device/plays", json={"plays": reports}).json()

    def download(self, url: str, start: int) -> httpx.Response:
        """A streamed GET from byte ``start`` on (status 206), or the whole file (200); close it after."""
        headers = {"Range": f"bytes={start}-"} if start else {}
        request = self._http.build_request("GET", url, headers=self._headers(url, headers))
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise HubDown(f"GET {url}: {exc}") from exc
        if response.status_code >= 400:
            response.read()
            response.close()
            _check(response)
        return response

    def events(self, read_timeout: float) -> Iterator[tuple[str, bytes | None, str | None, dict[str, bytes]]]:
        """(ETag, manifest or None, signature or None, media carried along) as the event stream
        announces them; returns when the hub closes it.

        Hubs send the manifest with the event; one that sends only the ETag gets a fetch instead.
        The manifest's bytes are taken exactly as sent, since its signature covers those bytes.
        """
        timeout = httpx.Timeout(self._http.timeout.connect, read=read_timeout)
        try:
            with self._http.stream("GET", "/api/v1/device/events", timeout=timeout,
                                   headers=self._headers("/", {"Accept": "text/event-stream"})) as response:
                self._stream = response
                if response.status_code >= 400:
                    response.read()
                    _check(response)
                event, data = "message", []
                for line in response.iter_lines():
                    if line == "":
                        if event == "manifest" and data:
                            try:
                                yield pushed_manifest("\n".join(data))
                            except (ValueError, KeyError, TypeError, AttributeError):
                                pass
                        event, data = "message", []
                    elif line.startswith(":"):
                        continue
                    else:
                        name, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if name == "event":
                            event = value
                        elif name == "data":
                            data.append(value)
                        elif name == "retry" and value.isdigit():
                            self.retry_s = int(value) / 1000
        except httpx.HTTPError as exc:
            raise HubDown(f"event stream: {exc.__class__.__name__}: {exc}") from exc
        finally:
            self._stream = None

    def abort(self) -> None:
        """End an open event stream from another thread (closing the client does not wake a read)."""
        response = self._stream
        network = response.extensions.get("network_stream") if response is not None else None
        sock = network.get_extra_info("socket") if network is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _check(response: httpx.Response) -> None:
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise HubDown(f"{response.request.method} {response.request.url.path}: {response.status_code}")
    if response.status_code >= 400:
        try:
            detail = str(response.json().get("detail"))
        except ValueError:
            detail = response.text[:200]
        raise Refused(response.status_code, detail)


#: What precedes the manifest's own bytes in an event's data (docs/device-protocol.md).
_MANIFEST_KEY = ',"manifest":'


def pushed_manifest(data: str) -> tuple[str, bytes | None, str | None, dict[str, bytes]]:
    """(ETag, the manifest's exact bytes, signature, media) of an event's ``data``.

    The hub writes ``{"etag":…,"signature":…,"media":{…},"manifest":<the manifest>}``: the
    manifest is everything after the first ``,"manifest":`` up to the final ``}``. ``media`` (an
    emergency's audio going on the air: sha256 → base64) may be absent; nothing in it is trusted
    until its SHA-256 matches a file the signed manifest names. Older hubs sent no signature; their
    manifest is the same slice.
    """
    announced = json.loads(data)
    etag, manifest = str(announced["etag"]), announced.get("manifest")
    if not isinstance(manifest, dict):
        return etag, None, None, {}
    signature = announced.get("signature")
    start = data.index(_MANIFEST_KEY) + len(_MANIFEST_KEY)
    raw = data[start:data.rindex("}")].encode()
    media: dict[str, bytes] = {}
    carried = announced.get("media")
    if isinstance(carried, dict):
        for sha256, encoded in carried.items():
            try:
                media[str(sha256)] = base64.b64decode(encoded, validate=True)
            except (TypeError, ValueError, binascii.Error):
                continue  # a file that does not decode is downloaded as usual
    return etag, raw, signature if isinstance(signature, str) else None, media
