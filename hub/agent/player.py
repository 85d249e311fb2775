"""Running the player command: one process per play, stopped with SIGTERM, then SIGKILL."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)
DEFAULTS = ("mpg123 -q", "ffplay -nodisp -autoexit -loglevel quiet")


def default_command() -> list[str] | None:
    """The first of the usual command-line players found on PATH."""
    for candidate in DEFAULTS:
        argv = shlex.split(candidate)
        if shutil.which(argv[0]):
            return argv
    return None


class PlayerMissing(Exception):
    """No player command, or it cannot be started."""


class Player:
    def __init__(self, command: str, *, kill_grace_s: float = 3.0, log_path: Path | None = None) -> None:
        self.argv = shlex.split(command) if command.strip() else default_command()
        self.kill_grace_s = kill_grace_s
        self.log_path = log_path
        # Made now, not at the first play: creating a file waits for the file system's journal,
        # which a busy SD card can hold for seconds, and a play must start on time.
        if log_path is not None:
            try:
                log_path.touch(exist_ok=True)
            except OSError as exc:
                log.warning("cannot create the player log %s: %s", log_path, exc)

    def describe(self) -> str:
        return shlex.join(self.argv) if self.argv else "(none found)"

    def start(self, media: Path | str) -> subprocess.Popen:
        """Run the player on a cached file's path, or on a stream's URL (mpg123 and ffplay take both)."""
        if not self.argv:
            raise PlayerMissing(f"no player: none of {', '.join(DEFAULTS)} is on PATH; set --player")
        stderr = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            # A session of its own: stop() reaches a wrapper script's children too, and a Ctrl-C
            # in the terminal goes to the agent, which then stops the player itself.
            return subprocess.Popen([*self.argv, str(media)], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        except OSError as exc:
            raise PlayerMissing(f"cannot run {self.argv[0]}: {exc}") from exc
        finally:
            if stderr is not subprocess.DEVNULL:
                stderr.close()

    def stop(self, proc: subprocess.Popen) -> None:
        """SIGTERM the player's process group; SIGKILL it if it is still there after the grace period."""
        if proc.poll() is not None:
            return
        self._signal(proc, signal.SIGTERM)
        try:
            proc.wait(self.kill_grace_s)
        except subprocess.TimeoutExpired:
            log.warning("player %d ignored SIGTERM for %.1f s; killing it", proc.pid, self.kill_grace_s)
            self._signal(proc, signal.SIGKILL)
            proc.wait()

    @staticmethod
    def _signal(proc: subprocess.Popen, sig: signal.Signals) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            proc.send_signal(sig)
