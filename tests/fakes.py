"""Quick media for tests: moved to hub.testing, so that bench/ can use it without importing tests/."""

from hub.testing import QuickMedia, slide_png, tone_mp3  # noqa: F401
