"""A test plugin, loaded by name through HUB_EXTRA_PLUGINS: a renderer that takes its time.

Each run appends a line to ``<data dir>/slow-runs.log`` so tests can see runs that a kill cut short.
"""

from __future__ import annotations

import hashlib
import os
import time

from hub import hookimpl
from hub.plugin_types import RenderContext, RenderedMedia, Renderer


def render(ctx: RenderContext) -> list[RenderedMedia]:
    log = ctx.settings.data_dir / "slow-runs.log"
    with open(log, "a") as handle:
        handle.write(f"start {ctx.bulletin.id} {os.getpid()}\n")
    time.sleep(float(os.environ.get("HUB_TEST_RENDER_S", "1.0")))
    data = hashlib.sha256(ctx.bulletin.content_hash.encode()).digest() * 64
    with open(log, "a") as handle:
        handle.write(f"end {ctx.bulletin.id} {os.getpid()}\n")
    return [RenderedMedia(kind="audio", mime="application/octet-stream", data=data, meta={"engine": "slow"})]


@hookimpl
def hub_register_renderers():
    return [Renderer(name="slow", channel="speaker", render=render)]
