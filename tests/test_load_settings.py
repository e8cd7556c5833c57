"""The load knobs (coffeeshop_tui.scenarios.web.load_settings): one rule per knob, the same in the
CLI, the screen and the controller. Pure: no server."""

from __future__ import annotations

import argparse
import math

import pytest

from coffeeshop_tui.scenarios.api import Param
from coffeeshop_tui.scenarios.web.load_settings import (
    DEMO_ENDPOINTS,
    ENDPOINTS,
    KNOBS,
    LIVE_KNOBS,
    MAX_CONCURRENCY,
    MAX_DELAY_S,
    MAX_RATE,
    LoadTestError,
    check_endpoint,
    endpoint_url,
)
from coffeeshop_tui.scenarios.web.loadtest import LoadTest
from coffeeshop_tui.tui.cli_load import build_parser


def cli_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["load", *argv])
    assert info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_every_knob_is_a_param_with_a_range_or_choices():
    for name, k in KNOBS.items():
        assert isinstance(k.param, Param) and k.name == name
        if name != "endpoint":
            assert k.param.choices or (k.param.min is not None and k.param.max is not None), name
    assert set(LIVE_KNOBS) <= set(KNOBS)


@pytest.mark.parametrize("flag, name, too_big", [
    ("--concurrency", "concurrency", str(MAX_CONCURRENCY + 1)),
    ("--rate", "rate", "1e6"),
    ("--delay", "delay", str(MAX_DELAY_S + 1)),
    ("--pool", "pool_size", "10001"),
    ("--port", "port", "65536"),
])
def test_cli_error_screen_clamp_and_controller_share_one_limit(capsys, flag, name, too_big):
    k = KNOBS[name]
    top = k.param.max
    # the CLI: argparse's error names the Param's range
    err = cli_error(capsys, flag, too_big)
    assert err.startswith(f"coffeeshop-tui: error: argument {flag}: must be {k.rule()}")
    assert f"..{top:g}" in err
    # the screen: > at the top stays at the top (the same Param's max), < comes down
    assert k.nudge(top, +1) == top
    assert k.nudge(top, -1) < top
    # the screen's typed value and the controller: the same rule
    with pytest.raises(LoadTestError, match=f"must be {k.rule()}"):
        k.parse(too_big)
    assert k.parse(str(top)) == top


def test_caps_of_concurrency_and_rate():
    assert KNOBS["concurrency"].param.max == MAX_CONCURRENCY == 10_000
    assert KNOBS["rate"].param.max == MAX_RATE == 10_000
    with pytest.raises(LoadTestError, match="concurrency must be a whole number in 1..10000"):
        LoadTest("/sync", concurrency=100_000_000)
    with pytest.raises(LoadTestError, match="rate must be a number in 0.1..10000"):
        LoadTest("/sync", model="open", rate=1e6)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_not_finite_numbers_are_refused_everywhere(capsys, value):
    with pytest.raises(LoadTestError):
        KNOBS["delay"].check(value)
    with pytest.raises(LoadTestError):
        KNOBS["rate"].check(value)
    with pytest.raises(LoadTestError):
        LoadTest("/sync", delay=value)
    assert "--delay: must be" in cli_error(capsys, f"--delay={value}")


def test_types_bools_and_optional_values():
    assert KNOBS["rate"].check(5) == 5.0 and isinstance(KNOBS["rate"].check(5), float)
    with pytest.raises(LoadTestError):
        KNOBS["concurrency"].check(True)
    with pytest.raises(LoadTestError):
        KNOBS["concurrency"].check(2.5)
    assert KNOBS["delay"].check(None) is None  # no ?delay= at all
    assert KNOBS["max_in_flight"].parse("off") == 0 and KNOBS["max_in_flight"].fmt(0) == "off"
    assert KNOBS["pool_size"].fmt(None) == "-"
    with pytest.raises(LoadTestError, match="model must be one of closed, open"):
        KNOBS["model"].parse("half-open")


def test_nudge_walks_the_ladder_and_stays_in_range():
    c = KNOBS["concurrency"]
    assert c.nudge(3, +1) == 4 and c.nudge(40, +1) == 41 and c.nudge(1, -1) == 1
    assert KNOBS["pool_size"].nudge(None, -1) == 30  # from the server's default, 40
    assert KNOBS["delay"].nudge(0.0, -1) == 0.0
    assert KNOBS["model"].nudge("closed", +1) == "open"
    assert KNOBS["max_in_flight"].nudge(0, +1) == 1


def test_argtype_is_the_knob_rule():
    t = KNOBS["concurrency"].argtype()
    assert t("7") == 7
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be a whole number in 1\.\.10000, got '0'"):
        t("0")


@pytest.mark.parametrize("endpoint, match", [
    ("sync", "starting with '/'"),
    ("/sync#x", "must not contain a fragment"),
    ("/sync?delay=3", "must not set delay="),
    ("/sy nc", "spaces"),
    ("/nope", "no endpoint '/nope' in the demo app"),
])
def test_bad_endpoints(endpoint, match):
    with pytest.raises(LoadTestError, match=match):
        check_endpoint(endpoint, demo=True)


def test_endpoints_with_a_query_keep_it_and_get_the_delay():
    assert check_endpoint("/cpu?work=10", demo=True) == "/cpu?work=10"
    assert check_endpoint("/orders?x=1", demo=False) == "/orders?x=1"
    assert endpoint_url("http://h:1", "/x?a=1", 0.5) == "http://h:1/x?a=1&delay=0.5"


def test_one_endpoint_table_for_cli_screen_and_menu():
    from coffeeshop_tui.tui import app as tui_app
    from coffeeshop_tui.tui.screens import load as screen

    paths = [e.path for e in ENDPOINTS]
    assert list(DEMO_ENDPOINTS) == paths
    assert [p for p, _lesson in tui_app.LOAD_TESTS] == paths
    assert not hasattr(screen, "SHORT_WHAT") and not hasattr(screen, "LADDERS")
    parser = build_parser()
    load = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["load"]
    help_text = next(a.help for a in load._actions if "--endpoint" in a.option_strings)
    assert all(e.path in help_text for e in ENDPOINTS)
