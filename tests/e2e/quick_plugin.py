"""A test plugin loaded by name through HUB_EXTRA_PLUGINS: real MP3 tones (hub.testing.QuickMedia), made in a blink.

The length comes from HUB_TEST_AUDIO_S: long enough for an emergency to cut into a programme,
short enough to keep the fleet test brief.
"""

from __future__ import annotations

import os

from hub import hookimpl
from hub.testing import QuickMedia

_quick = QuickMedia(seconds=float(os.environ.get("HUB_TEST_AUDIO_S", "6")))


@hookimpl
def hub_register_renderers():
    return _quick.hub_register_renderers()
