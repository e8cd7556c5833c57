"""Short garbage collections for a live screen: old objects are frozen out of them.

CPython's full collection walks every container object of the process while holding the GIL.
A live load-test screen holds a few hundred thousand (the server's recording for the last
30 s, the lanes, Textual's cached strips) and promotes thousands more a second, so a full
collection ran every few seconds and held the GIL 100-300 ms (measured: bench/load_keys.py
and a gc.callbacks log): a key pressed then waited for it.

:class:`FreezeOld` calls :func:`gc.freeze` every ``every_s`` seconds: what is alive then is
left out of later collections, which walk only what was made since (short). Objects freed
by reference counting (almost all: pruned history, old strips) are freed as before; only
garbage *cycles* among frozen objects wait: every ``thaw_s`` seconds :func:`gc.unfreeze`
hands everything back to the collector (one full collection then), so memory stays bounded.
:meth:`FreezeOld.close` unfreezes for good (the screen is gone)."""

from __future__ import annotations

import gc
import threading
import time
from typing import Callable


class FreezeOld:
    """Call :meth:`tick` often (e.g. each producer update); any thread."""

    def __init__(self, every_s: float = 2.0, thaw_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.thaw_s = thaw_s
        self._clock = clock
        self._thawed_at = clock()
        self._frozen_at = self._thawed_at - every_s  # the first tick freezes what exists (modules...)
        self.closed = False
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            if self.closed:
                return
            now = self._clock()
            if now - self._thawed_at >= self.thaw_s:
                gc.unfreeze()  # cycles among old objects get collected (one full collection)
                self._thawed_at = self._frozen_at = now
            elif now - self._frozen_at >= self.every_s:
                gc.freeze()
                self._frozen_at = now

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                gc.unfreeze()
