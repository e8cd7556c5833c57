"""load_export.export_doc: the load screen's JSON export says which part of the run its block
list and its statistics cover (the screen keeps the newest blocks of a bounded window)."""

from coffeeshop_tui.scenarios.snapshot import Snapshot
from coffeeshop_tui.scenarios.web.explain_load import LoadStats
from coffeeshop_tui.scenarios.web.load_export import export_doc
from coffeeshop_tui.scenarios.web.loadtest import LoadUpdate


def _update(n_blocks: int, w_blocks: int, live: bool = True) -> LoadUpdate:
    blocks = tuple({"task": 1, "start_s": 540.0 + i * 0.1, "end_s": 540.05 + i * 0.1, "start_ns": 0,
                    "end_ns": 0, "where": "app.py:7", "culprit": "time.sleep"} for i in range(n_blocks))
    snap = Snapshot(version=1, live=live, t_end=600.0, lanes=(), blocks=blocks)
    stats = LoadStats(live=live, window_s=60.0, w_blocks=w_blocks, recorded=True)
    return LoadUpdate(1, "running", snap, stats, "caption")


def test_the_export_says_which_blocks_it_lists_of_the_window():
    doc = export_doc(_update(200, 950))
    assert doc["window"] == {"from_s": 540.0, "to_s": 600.0, "live": True}
    assert len(doc["blocks"]) == 200 and "start_ns" not in doc["blocks"][0]
    assert doc["blocks_note"] == ("the newest 200 blocks listed (from 540.0 s on), "
                                  "950 in the window (540.0 s to 600.0 s)")


def test_every_block_of_the_window_listed_says_so():
    doc = export_doc(_update(3, 3))
    assert doc["blocks_note"] == "3 blocks listed: every one in the window (540.0 s to 600.0 s)"
