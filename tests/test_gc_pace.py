"""FreezeOld (tui/gc_pace.py): old objects frozen out of garbage collections, thawed now and then."""

from __future__ import annotations

import gc
import weakref

from coffeeshop_tui.tui.gc_pace import FreezeOld


class Node:
    pass


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_freezes_often_thaws_when_keys_are_quiet_and_unfreezes_on_close():
    clock = Clock()
    fo = FreezeOld(every_s=0.5, thaw_s=60, quiet_s=3, max_thaw_s=300, clock=clock)
    try:
        fo.tick()
        assert gc.get_freeze_count() > 0  # what existed is frozen at once
        node = Node()
        node.me = node  # a cycle, frozen below: garbage collected only after a thaw
        gone = weakref.ref(node)
        clock.t += 0.6
        fo.tick()
        del node
        gc.collect()
        assert gone() is not None  # frozen: left out of collections
        clock.t += 61
        fo.key()  # the user is pressing keys: the full collection waits
        fo.tick()
        assert fo.thaws == 0
        clock.t += 3.1
        fo.tick()
        assert fo.thaws == 1 and gc.get_freeze_count() == 0  # handed back to the collector
        gc.collect()
        assert gone() is None
        clock.t += 0.6
        fo.tick()
        assert gc.get_freeze_count() > 0
        for _ in range(400):  # keys all the time: thawed anyway after max_thaw_s
            clock.t += 1
            fo.key()
            fo.tick()
        assert fo.thaws == 2
    finally:
        fo.close()
    assert gc.get_freeze_count() == 0 and fo.closed
    fo.tick()  # after close: nothing frozen again
    assert gc.get_freeze_count() == 0
