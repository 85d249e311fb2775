"""``python -m hub.agent``: the same as ``hub agent``, for a device that has only this package."""

from __future__ import annotations

import argparse
import logging
import sys

from hub.agent import add_arguments, run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="hub agent", description="the reference loudspeaker agent")
    add_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(run(args))
