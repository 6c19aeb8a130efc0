"""node_app/workqueue.py: a node that says it holds nothing really holds nothing.

The harness's drain stops the nodes once each says `queue_depth == 0 and busy == 0`; if a
frame can be in neither number for a moment, the drain can stop a node under it (CI lost one
frame of a hundred that way). Here one thread moves frames through the queue while another
keeps asking, and every time the answer is "nothing", every frame put so far must be done.
"""

from __future__ import annotations

import threading
import time

from node_app.workqueue import WorkQueue


def test_a_frame_is_waiting_or_in_work_until_finished() -> None:
    q = WorkQueue()
    q.put((1, b"x"))
    assert q.counts() == (1, 0)
    item = q.get()
    assert item == (1, b"x") and q.counts() == (0, 1)
    q.finished()
    assert q.counts() == (0, 0)
    q.put(None)  # the stop marker is not a frame
    assert q.counts() == (0, 0) and q.get() is None and q.counts() == (0, 0)


def test_nothing_held_means_every_frame_put_is_done() -> None:
    q = WorkQueue(5)
    n = 2000
    put = done = 0
    stop = threading.Event()

    def worker() -> None:
        nonlocal done
        while q.get() is not None:
            done += 1  # the frame's work, finished before it stops counting as held
            q.finished()

    def producer() -> None:
        nonlocal put
        for k in range(n):
            q.put((k, b""))
            put += 1
            if k % 50 == 49:  # let the queue run dry now and then, so "empty" is asked of it
                while done < put:
                    time.sleep(0.0005)
        q.put(None)
        stop.set()

    threads = [threading.Thread(target=worker), threading.Thread(target=producer)]
    for t in threads:
        t.start()
    empty_seen = 0
    while not stop.is_set():
        sent = put  # read before asking: these were all put before the question
        if q.counts() == (0, 0):
            empty_seen += 1
            assert done >= sent, f"said empty with {sent - done} frame(s) put and not done"
    for t in threads:
        t.join()
    assert done == n and q.counts() == (0, 0)
    assert empty_seen > 0, "the observer never saw the queue empty, so nothing was checked"
