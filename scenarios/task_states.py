"""The states of a task and of the loop, as the timeline derives them and every view names them.

A task is ``running`` (a step of it holds the loop), ``waiting`` (for something it awaits) or
``starved`` (ready, but something else held the loop); the loop lane adds ``blocked`` (a step
of at least ``block_ms``), ``callback`` (a plain callback), ``idle`` (in select) and ``gil`` (a
long step in which the loop thread mostly waited for the GIL, gil_probe.py); ``thread`` is a
job in a worker thread or process.
"""

RUNNING, WAITING, STARVED = "running", "waiting", "starved"
BLOCKED, CALLBACK, IDLE, THREAD = "blocked", "callback", "idle", "thread"
GIL = "gil"  # a long step in which the loop thread mostly waited for the GIL (gil_probe.py)
