"""Driving the console in Debian's Chromium: launch, sign in, and look at a page as a person would.

``look(page, name)`` is what every console page test calls on each page it reaches: a full-page
screenshot (into ``HUB_TEST_SCREENSHOTS``, default ``<tmp>/console-screenshots``, printed at the
end of the run), no sideways scrolling at the viewport's width, and an axe-core check (the copy
bundled in axe-playwright-python's wheel: nothing is fetched) with no serious or critical violation.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
SIZES = {"phone": PHONE, "desktop": DESKTOP}
ARGS = ["--no-sandbox", "--disable-background-networking"]


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("HUB_TEST_SCREENSHOTS") or Path(tempfile.gettempdir()) / "console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def launch(playwright: Any, *, fake_audio: Path | None = None):
    """Chromium headless; with ``fake_audio`` (a WAV), its fake microphone speaks that file."""
    args = list(ARGS)
    if fake_audio is not None:
        args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-audio-capture={fake_audio}"]
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)


def sign_in(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, f"{username} could not sign in: {page.inner_text('main')[:300]}"


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [v for v in results.response["violations"] if v.get("impact") in impacts]


def look(page: Any, name: str, *, axe: bool = True) -> Path:
    """Screenshot the page, and check it fits the viewport and passes axe (serious, critical)."""
    size = page.viewport_size or DESKTOP
    label = "phone" if size["width"] <= 480 else "desktop"
    path = screenshot_dir() / f"{name}-{label}.png"
    page.screenshot(path=str(path), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= size["width"], f"{name} scrolls sideways at {size['width']} px ({width} px wide)"
    if axe:
        found = axe_violations(page)
        assert not found, f"{name}: axe found " + "; ".join(
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in found)
    return path
