"""A few baristas for many customers: an asyncio.Semaphore makes a queue."""

import asyncio

from coffeeshop_tui.scenarios.api import param, scenario


async def serve(n: int, baristas: asyncio.Semaphore, brew_s: float) -> None:
    async with baristas:  # wait in line for a free barista
        await asyncio.sleep(brew_s)
        print(f"coffee {n} is ready")


@scenario(
    "limited-baristas",
    lesson="A Semaphore, the `counter`, lets only `baristas` brew at once: customers queue in waves.",
    params=[
        param("customers", 6, 1, 200, help="customers arriving at once"),
        param("baristas", 2, 1, 50, help="baristas working in parallel"),
        param("brew_s", 1.0, 0.0, 10.0, help="seconds per coffee", step=0.1),
    ],
    ideal=lambda p: (p["customers"] * p["brew_s"],
                     -(-p["customers"] // p["baristas"]) * p["brew_s"]),
)
async def main(customers: int, baristas: int, brew_s: float) -> None:
    counter = asyncio.Semaphore(baristas)
    await asyncio.gather(*(serve(n, counter, brew_s) for n in range(1, customers + 1)))
