"""A sync barista: one coffee after another, each with time.sleep."""

import time

from coffeeshop_tui.scenarios.api import param, scenario


def make_coffee(n: int, brew_s: float) -> None:
    time.sleep(brew_s)  # the barista stands at the machine: nothing else happens
    print(f"coffee {n} is ready")


@scenario(
    "sync-barista",
    lesson="One barista, one coffee at a time: total time = customers x brew time.",
    params=[
        param("customers", 3, 1, 50, help="coffees to make"),
        param("brew_s", 1.0, 0.0, 10.0, help="seconds per coffee", step=0.1),
    ],
    ideal=lambda p: (p["customers"] * p["brew_s"], p["brew_s"]),
)
async def main(customers: int, brew_s: float) -> None:
    # Plain synchronous code: each call returns only when its coffee is done.
    # (It runs inside one task so the recorder can watch it; there is no concurrency.)
    for n in range(1, customers + 1):
        make_coffee(n, brew_s)
