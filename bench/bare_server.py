"""The baseline for bench/poll.py: a bare FastAPI route returning a constant body of a given size,
with the same ETag/304 handling, served by the same uvicorn settings as `hub serve`."""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, Request, Response


def build(size: int) -> FastAPI:
    app = FastAPI()
    body = b'{"items":"' + b"x" * max(0, size - 12) + b'"}'
    etag = '"constant-etag-0123456789abcdef"'

    # async, like the hub's route: both answer a poll on the event loop.
    @app.get("/api/v1/device/manifest")
    async def manifest(request: Request) -> Response:
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build(args.size), host="127.0.0.1", port=args.port, log_level="warning")
