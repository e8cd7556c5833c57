"""The built-in barista scenarios, one short module each (their source is shown in the app)."""

MODULES = [
    "sync_barista",
    "async_barista",
    "blocking_barista",
    "forgotten_await",
    "threadpool_barista",
    "cpu_barista",
    "limited_baristas",
    "open_shop",
]
