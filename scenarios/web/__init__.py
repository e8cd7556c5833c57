"""Live FastAPI load tests: the demo app, a child-process server and a load generator.

Modules:
  app               the learner-facing FastAPI app (/sync, /async, /bad, /good, /safe, /to_thread, /cpu)
  middleware        plumbing: request-id echo, /_admin/pool (anyio thread limiter), 503 concurrency limit
  server            WebServer: run uvicorn in a child process on 127.0.0.1, stop it reliably
  serve_child       the child's entry point (hook: install_instruments(loop))
  loadgen           LoadGenerator: closed / open model load, per-request records, HDR percentiles
  bench_sync_async  the blog post's benchmark, measured, with the reason for each number

Nothing in this package imports textual.
"""
