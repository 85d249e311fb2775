"""A test player: logs each run to a JSON-lines file, "plays" for the audio's real length (capped).

Usage: python fake_player.py LOG MAX_SECONDS MEDIA — the agent appends MEDIA. A SIGTERM is logged,
so a test can see that an emergency cut the play short.
"""

import json
import os
import signal
import subprocess
import sys
import time

#: When the agent launched the player, as near as the player can tell: the start is stamped with it,
#: so what the tests time is the agent, not this script's ffprobe or a file system's slow file creation.
LAUNCHED = time.time()
log_path, max_s, media = sys.argv[1], float(sys.argv[2]), sys.argv[-1]


def write(event: str, *, t: float | None = None, **extra) -> None:
    line = json.dumps({"event": event, "media": os.path.basename(media), "pid": os.getpid(),
                       "t": time.time() if t is None else t, **extra}) + "\n"
    with open(log_path, "a") as handle:
        handle.write(line)


def terminated(_signum, _frame) -> None:
    write("terminated")
    sys.exit(143)


signal.signal(signal.SIGTERM, terminated)
probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", media],
                       capture_output=True, text=True)
duration = float(probe.stdout.strip() or 0)
write("start", t=LAUNCHED, duration=duration, argv=sys.argv)
time.sleep(min(duration, max_s))
write("end")
