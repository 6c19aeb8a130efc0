"""A frame queue that knows how many of its frames are still being worked on.

The harness's drain (harness/experiment.py `frames_in_pipeline`) and the tests stop waiting
when every node says `queue_depth == 0 and busy == 0`. Counting `busy` in the serve loop
after `get()` returned leaves a moment when a frame is in neither number, and a drain that
looks then stops the nodes under a frame still in progress (it happened on a busy CI box:
one frame of a hundred missing). Here the count rises inside `get()`, under the queue's own
lock, in the same step that takes the frame off, so the two numbers are read together and a
frame is always in one of them until its taker calls `finished()`.
"""

from __future__ import annotations

import queue
from typing import Any


class WorkQueue(queue.Queue):
    """queue.Queue plus `in_work`: frames taken off and not yet `finished()`.

    The stop marker (None) is not a frame and is not counted."""

    def __init__(self, maxsize: int = 0):
        super().__init__(maxsize)
        self.in_work = 0

    def _get(self) -> Any:  # the hook queue.Queue calls with self.mutex held
        item = super()._get()
        if item is not None:
            self.in_work += 1
        return item

    def finished(self) -> None:
        """One frame taken off this queue is done with (sent on, dropped, or handed over)."""
        with self.mutex:
            self.in_work -= 1

    def counts(self) -> tuple[int, int]:
        """(waiting, in work), read together under the queue's lock."""
        with self.mutex:
            return sum(item is not None for item in self.queue), self.in_work
