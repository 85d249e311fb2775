"""The one place the hub itself opens a user's stream URL: the explicit "check this stream" action.

Everywhere else a relay's URL is only passed on to the devices (docs/scheduling.md, Relays). Here
the hub does connect, so it must not become a way to reach what only the hub can reach (its own
port, the Icecast admin, a router's page, a cloud metadata address): the name is resolved first,
**every** address it resolves to is checked, any loopback, private, link-local, multicast,
reserved or unspecified one refuses the whole check, and the connection goes to the checked
address itself (the URL is rewritten to it; the Host header and, for https, the TLS server name
stay the name, so the certificate is verified against it), so a second DNS answer cannot swap in
another address. Redirects are not followed. It reads at most ``max_bytes`` (16 KiB) within ``timeout_s`` (5 s), and
stops after 4 KiB once they look like audio.

httpx sends the TLS server name from the ``sni_hostname`` request extension (httpcore's
``_sync/connection.py`` passes it as ``server_hostname`` to the TLS wrap, which verifies the
certificate against it).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from hub.errors import Invalid
from hub.playlists import check_stream_url

#: What an MP3 stream starts with: an ID3 tag or an MPEG audio frame sync.
_MP3_STARTS = (b"ID3",)
Resolver = Callable[[str, int], list[str]]


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def refused_reason(address: str) -> str | None:
    """Why the hub must not connect to this address, or None if it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for test, what in ((ip.is_loopback, "loopback"), (ip.is_link_local, "link-local"),
                       (ip.is_multicast, "multicast"), (ip.is_unspecified, "unspecified"),
                       (ip.is_private, "private"), (ip.is_reserved, "reserved"),
                       (not ip.is_global, "not public")):
        if test:
            return what
    return None


def _looks_like_audio(content_type: str, head: bytes) -> bool:
    if content_type.split(";")[0].strip().lower().startswith(("audio/", "application/ogg")):
        return True
    return head.startswith(_MP3_STARTS) or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


#: Enough of a stream to tell audio from an error page: the check stops there once it looks like audio.
ENOUGH_BYTES = 4096


def check_stream(url: str, *, timeout_s: float = 5.0, max_bytes: int = 16 * 1024,
                 resolve: Resolver | None = None, allow: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """Connect to a stream URL as a device would, briefly; say what answered.

    ``Invalid`` (422) for a URL of the wrong shape or one whose name resolves to an address the hub
    must not reach. Otherwise a report: ``ok`` (a 2xx answer that looks like audio), ``status``,
    ``content_type``, ``bytes_read``, ``address`` and, when it failed, ``error``. ``allow`` lets a
    test reach its own station on loopback; the API never passes it.
    """
    try:
        check_stream_url(url)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = (resolve or _resolve)(host, port)
    except (OSError, UnicodeError) as exc:
        return {"url": url, "ok": False, "error": f"the name {host} does not resolve: {exc}"}
    if not addresses:
        return {"url": url, "ok": False, "error": f"the name {host} has no address"}
    for address in addresses:
        reason = refused_reason(address)
        if reason is not None and not (allow is not None and allow(address)):
            raise Invalid(f"stream_url: {host} resolves to a {reason} address ({address}); "
                          "the hub does not connect there")
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    target = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    report: dict[str, Any] = {"url": url, "address": address, "ok": False, "status": None,
                              "content_type": None, "bytes_read": 0}
    deadline = time.monotonic() + timeout_s
    head = b""
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False) as client:
            request = client.build_request("GET", target, headers={"Host": parts.netloc.rpartition("@")[2],
                                                                   "Icy-MetaData": "0",
                                                                   "User-Agent": "grassroots-hub stream check"},
                                           extensions={"sni_hostname": host})
            response = client.send(request, stream=True)
            try:
                report["status"] = response.status_code
                report["content_type"] = response.headers.get("content-type")
                if response.is_redirect:
                    report["error"] = f"it redirects to {response.headers.get('location')}; check that address"
                    return report
                for chunk in response.iter_raw(4096):
                    head += chunk
                    if (len(head) >= max_bytes or time.monotonic() > deadline or (
                            len(head) >= ENOUGH_BYTES and _looks_like_audio(report["content_type"] or "", head))):
                        break
            finally:
                response.close()
    except httpx.HTTPError as exc:
        report["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return report
    head = head[:max_bytes]
    report["bytes_read"] = len(head)
    audio = _looks_like_audio(report["content_type"] or "", head)
    report["ok"] = 200 <= (report["status"] or 0) < 300 and audio and len(head) > 0
    if not report["ok"]:
        report["error"] = (f"the station answered {report['status']}" if not 200 <= report["status"] < 300
                           else "the answer does not look like audio" if not audio else "no audio came")
    return report
