"""Short garbage collections for a live screen: old objects are frozen out of them.

CPython's full collection walks every container object of the process while holding the GIL.
A live load-test screen holds a few hundred thousand (the server's recording for the last
30 s, the lanes, Textual's cached strips) and promotes tens of thousands more a second, so a
full collection ran every ~2 s and held the GIL 50-250 ms (measured: bench/load_keys.py and a
gc.callbacks log at /async with 1,000 users): a key pressed then waited for it.

:class:`FreezeOld` calls :func:`gc.freeze` every ``every_s`` seconds: what is alive then is
left out of later collections, which walk only what was made since (a few ms). Objects freed
by reference counting (almost all: pruned history, old strips) are freed as before; only
garbage *cycles* among frozen objects wait (measured ~1,000 objects a second there): every
``thaw_s`` seconds :func:`gc.unfreeze` hands everything back to the collector, so memory stays
bounded. That one full collection is put off while keys are being pressed (:meth:`FreezeOld.key`:
none in the last ``quiet_s``), at most until ``max_thaw_s``. :meth:`FreezeOld.close`
unfreezes for good (the screen is gone)."""

from __future__ import annotations

import gc
import threading
import time
from typing import Callable


class FreezeOld:
    """Call :meth:`tick` often (e.g. each producer update) and :meth:`key` on each key; any thread."""

    def __init__(self, every_s: float = 0.5, thaw_s: float = 60.0, quiet_s: float = 3.0,
                 max_thaw_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.thaw_s = thaw_s
        self.quiet_s = quiet_s
        self.max_thaw_s = max_thaw_s
        self._clock = clock
        self._thawed_at = clock()
        self._frozen_at = self._thawed_at - every_s  # the first tick freezes what exists (modules...)
        self._key_at = -float("inf")
        self.closed = False
        self.thaws = 0
        self._lock = threading.Lock()

    def key(self) -> None:
        """A key was pressed: the user waits for its effect now (no full collection soon)."""
        self._key_at = self._clock()

    def tick(self) -> None:
        with self._lock:
            if self.closed:
                return
            now = self._clock()
            since = now - self._thawed_at
            if since >= self.thaw_s and (now - self._key_at >= self.quiet_s or since >= self.max_thaw_s):
                gc.unfreeze()  # cycles among old objects get collected (one full collection)
                self._thawed_at = self._frozen_at = now
                self.thaws += 1
            elif now - self._frozen_at >= self.every_s:
                gc.freeze()
                self._frozen_at = now

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                gc.unfreeze()
