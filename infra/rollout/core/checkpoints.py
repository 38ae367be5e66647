"""Named points inside the move transaction where a crash test can hold the process to kill it there.

Inert unless $ROLLOUT_TEST_PAUSE is set, e.g. `ROLLOUT_TEST_PAUSE=intent-written=0.5` says so on
stderr and sleeps half a second right after the intent record is written (several points:
separate them with commas).
"""
from __future__ import annotations

import os
import sys
import time

ENV = "ROLLOUT_TEST_PAUSE"
POINTS = ("locked", "intent-written", "temp-written", "file-replaced", "done-written")


def checkpoint(point: str) -> None:
    assert point in POINTS, point  # a misspelt point would silently never pause
    spec = os.environ.get(ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, seconds = item.partition("=")
        if name.strip() == point:
            print(f"rollout: test pause at {point}", file=sys.stderr, flush=True)  # the test kills on this line
            time.sleep(float(seconds or 0))
