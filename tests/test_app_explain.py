"""Captions and series computed from recorded measurements (scenarios/explain.py)."""

from __future__ import annotations

import re

import pytest

from test_app_fakes import RECORDINGS, load

from coffeeshop_tui.scenarios.explain import caption, culprit, fmt_s, series, short_where
from coffeeshop_tui.scenarios.report import summary
from coffeeshop_tui.scenarios.snapshot import SnapshotBuilder
from coffeeshop_tui.scenarios.timeline import Timeline

PARAMS = {stem: params for stem, _name, params, _f in RECORDINGS}


def timeline_of(stem: str) -> Timeline:
    tl = Timeline(block_ms=25.0)
    for msg in load(stem):
        kind = msg.get("type")
        if kind == "start":
            tl.start(msg["t"])
        elif kind == "batch":
            tl.ingest(msg)
        elif kind == "end":
            tl.finish(msg["t"])
            if msg.get("error"):
                tl.error = msg["error"]["message"]
    return tl


def caption_of(stem: str, params: dict | None = None) -> str:
    tl = timeline_of(stem)
    return caption(tl, summary(tl), PARAMS[stem] if params is None else params)


@pytest.mark.parametrize("stem, expected", [
    ("sync-barista", "serialized: 3 coffees took 30"),
    ("blocking-barista", "serialized: 3 coffees took 30"),
    ("blocking-barista-4", "serialized: 4 coffees took 40"),
    ("async-barista", "overlapped: 3 coffees in 10"),
    ("limited-baristas", "in waves: 6 coffees took 30"),
    ("threadpool-barista", "pool of 4 workers: 10 jobs ran in 3 waves"),
    ("forgotten-await", "forgotten await: 3 coroutines never ran (make_coffee"),
    ("spilled-coffee", "failed after"),
])
def test_caption_from_each_recorded_capture(stem, expected):
    assert caption_of(stem).startswith(expected) or expected in caption_of(stem)


def test_serialized_caption_names_the_call_that_held_the_loop():
    cap = caption_of("blocking-barista")
    assert "= 3 x brew because time.sleep held the loop for 30" in cap


def test_caption_comes_from_the_measurement_not_the_name():
    # the same blocking capture, told nothing about customers or brew time: still "blocked"
    cap = caption_of("blocking-barista", params={})
    assert cap.startswith("blocked: time.sleep (blocking_barista.py:10) held the loop")
    # an overlapped capture never claims to be serialized, whatever the params say
    cap = caption_of("async-barista", params={"customers": 3, "brew_s": 0.1})
    assert "serialized" not in cap and "overlapped" in cap


def test_live_caption_while_a_step_holds_the_loop():
    tl = Timeline(block_ms=25.0)
    msgs = load("blocking-barista")
    tl.start(msgs[0]["t"])
    for msg in msgs[1:]:
        if msg["type"] != "batch":
            continue
        tl.ingest(msg)
        held = tl.holding()
        if held is not None and tl.now_ns - held[1] >= tl.block_ns:
            cap = caption(tl, summary(tl), PARAMS["blocking-barista"])
            assert cap.startswith("blocked right now: time.sleep (blocking_barista.py:10)")
            break
    else:
        pytest.fail("no batch caught a step holding the loop")


def test_series_shows_lag_growing_while_tasks_starve():
    tl = timeline_of("blocking-barista")
    snap = SnapshotBuilder(tl).build()
    lag, ready = series(snap, bins=30)
    assert len(lag) == len(ready) == 30
    assert max(lag) == pytest.approx(0.2, abs=0.02)  # the third coffee waited two brews
    assert max(ready) == pytest.approx(2, abs=0.1)
    lag, ready = series(SnapshotBuilder(timeline_of("async-barista")).build(), bins=30)
    assert max(lag) < 0.01


def test_helpers():
    assert fmt_s(3.0) == "3.00 s" and fmt_s(0.25) == "250 ms" and fmt_s(0.0042) == "4.2 ms"
    assert fmt_s(0) == "0 s" and fmt_s(0.0000005) == "<1 µs"
    assert short_where("/a/b/c.py:12") == "c.py:12"
    assert culprit("") == "one long step"


@pytest.mark.slow
def test_explain_does_not_import_textual():
    import subprocess
    import sys

    code = "import coffeeshop_tui.scenarios.explain, sys; assert not any(m.startswith('textual') for m in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=__import__("test_app_fakes").ROOT).returncode == 0


def test_a_run_in_progress_gets_no_speedup_verdict_and_a_finished_one_does():
    from coffeeshop_tui.scenarios.explain import OK, RUNNING_VERDICT, TOO_FAST, speedup_verdict
    from coffeeshop_tui.scenarios.report import text_summary, to_json

    # the first 10% of a run: so far it is "faster" than the whole run's ideal
    live = {"final": False, "wall_s": 0.1, "ideal_sequential_s": 3.0, "ideal_overlapped_s": 1.0,
            "speedup": 30.0}
    assert speedup_verdict(live)[2] == RUNNING_VERDICT
    done = dict(live, final=True)
    assert speedup_verdict(done) == ("30x", "too fast: work skipped?", TOO_FAST)
    assert speedup_verdict(dict(done, wall_s=1.0, speedup=3.0))[2] == OK

    # the same rule in the CLI's summary, from a real recording
    tl = timeline_of("blocking-barista")
    doc = to_json(tl, "blocking-barista", PARAMS["blocking-barista"])
    assert doc["summary"]["final"] is True
    assert re.search(r"speed-up (0\.9\d|1\.0\d)x over sequential, of 3\.\d\dx possible", text_summary(doc))
    half = Timeline(block_ms=25.0)
    msgs = load("blocking-barista")
    for msg in msgs[: len(msgs) // 2]:
        if msg.get("type") == "start":
            half.start(msg["t"])
        elif msg.get("type") == "batch":
            half.ingest(msg)
    doc = to_json(half, "blocking-barista", PARAMS["blocking-barista"])
    assert doc["summary"]["final"] is False
    assert "speed-up — over sequential, running" in text_summary(doc)


def test_counts_agree_with_their_noun_in_the_stats_panel_and_the_report():
    """One block is "1 block", not "1 blocks" or "1 block(s)" (stats panel, CLI report)."""
    from coffeeshop_tui.scenarios.explain import plural
    from coffeeshop_tui.tui.widgets.stats import stats_table
    from rich.console import Console

    assert (plural(1, "block"), plural(0, "block"), plural(3, "block")) == ("1 block", "0 blocks", "3 blocks")
    console = Console(width=80, record=True)
    console.print(stats_table({"wall_s": 1.0, "ideal_sequential_s": 1.0, "ideal_overlapped_s": 1.0,
                               "blocked_s": 1.0, "blocks": 1, "max_lag_s": 0.0}))
    text = console.export_text()
    assert "in 1 block\n" in text and "blocks" not in text


def test_pools_phrase_names_each_pool_once():
    """Several pools: "process pool: ... (3 processes)", not "process pool: pool of 3 processes"."""
    from types import SimpleNamespace

    from coffeeshop_tui.scenarios.explain import _pools

    def jobs(pool, threads):
        return [SimpleNamespace(pool=pool, thread=t) for t in threads]
    one = SimpleNamespace(jobs=jobs("default executor", [1, 2, 3, 1]))
    assert _pools(one) == ["pool of 3 workers: 4 jobs ran in 2 waves"]
    two = SimpleNamespace(jobs=jobs("default executor", [1, 2, 3]) + jobs("process pool", [7]))
    assert _pools(two) == ["default executor: 3 jobs in 1 wave (3 workers)",
                           "process pool: 1 job in 1 wave (1 process)"]
