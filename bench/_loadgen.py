"""A small, fast HTTP/1.1 keep-alive load generator on asyncio streams (loopback only).

httpx spends more CPU per request than the server under test, which would measure the client;
this sends GETs over a fixed set of persistent connections and reads Content-Length bodies.
"""

from __future__ import annotations

import asyncio
import time


class Connection:
    def __init__(self, host: str, port: int, ssl=None) -> None:
        self.host, self.port = host, port
        #: An ssl.SSLContext for HTTPS (nginx in front, bench/cluster.py); None for plain HTTP.
        self.ssl = ssl
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        parsed = {}
        for line in header_lines:
            if ":" in line:
                key, value = line.split(":", 1)
                parsed[key.strip().lower()] = value.strip()
        length = int(parsed.get("content-length", "0"))
        body = await self.reader.readexactly(length) if length else b""
        return status, parsed, body


async def schedule(host: str, port: int, path: str, jobs: list[tuple[float, dict[str, str]]], connections: int,
                   on_response=None, ssl=None) -> dict:
    """Send each job (offset in seconds from start, headers) at its time over `connections` connections."""
    queue: asyncio.Queue = asyncio.Queue()
    start = time.monotonic()
    latencies: list[float] = []
    #: (when it was sent, seconds from start; its latency), in the order they completed.
    timed: list[tuple[float, float]] = []
    lags: list[float] = []
    statuses: dict[int, int] = {}

    async def feeder() -> None:
        for offset, headers in sorted(jobs, key=lambda job: job[0]):
            delay = start + offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await queue.put((start + offset, headers))
        for _ in range(connections):
            await queue.put(None)

    async def worker() -> None:
        conn = Connection(host, port, ssl)
        while (job := await queue.get()) is not None:
            due, headers = job
            sent = time.monotonic()
            lags.append(sent - due)
            status, response_headers, body = await conn.get(path, headers(dict) if callable(headers) else headers)
            latencies.append(time.monotonic() - sent)
            timed.append((sent - start, latencies[-1]))
            statuses[status] = statuses.get(status, 0) + 1
            if on_response is not None:
                on_response(headers, status, response_headers)

    await asyncio.gather(feeder(), *(worker() for _ in range(connections)))
    return {"latencies": sorted(latencies), "timed": timed, "lags": sorted(lags), "statuses": statuses,
            "seconds": time.monotonic() - start, "start": start}


async def event_lines(host: str, port: int, path: str, headers: dict[str, str], ssl=None,
                      connected=None):
    """A server-sent event stream's ``data:`` lines (bytes), as each completes: one connection of
    asyncio streams, chunked transfer decoded by hand. httpx's pool scans every connection for
    every request (quadratic with thousands of streams in one process); this costs nothing per
    stream but its bytes. ``connected()`` is called once the answer's head has arrived."""
    reader, writer = await asyncio.open_connection(host, port, ssl=ssl, limit=1 << 24)
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        if not head.split(None, 2)[1].startswith("2"):
            raise ConnectionError(head.split("\r\n", 1)[0])
        if connected is not None:
            connected()
        chunked = "transfer-encoding: chunked" in head
        pending = bytearray()
        while True:
            if chunked:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if size == 0:
                    return
                data = await reader.readexactly(size + 2)
                pending += data[:-2]
            else:
                data = await reader.read(1 << 16)
                if not data:
                    return
                pending += data
            while (end := pending.find(b"\n")) >= 0:
                line = bytes(pending[:end])
                del pending[:end + 1]
                if line.startswith(b"data:"):
                    yield line
    finally:
        writer.close()
