"""Live FastAPI load tests: the demo app, a child-process server and a load generator.

Modules:
  app               the learner-facing FastAPI app (/sync, /async, /bad, /good, /safe, /to_thread, /cpu)
  middleware        plumbing: request-id echo, /_admin/pool (anyio thread limiter), 503 concurrency limit
  server            WebServer: run uvicorn in a child process on 127.0.0.1, stop it reliably
  serve_child       the child's entry point (hook: install_instruments(loop))
  loadgen           LoadGenerator: closed / open model load, per-request records, HDR percentiles
  bench_sync_async  the blog post's benchmark, measured, with the reason for each number
  loadtest          LoadTest: a recorded server + load, live updates and the final report; split by job:
    load_settings   every load knob (a Param each: limits, CLI type, screen nudge) and the endpoint table
    load_session    lifecycle (start / stop / restart / kill), knobs, pause / resume (short lock)
    load_feed       the server's recording read incrementally per restart (epochs): loop / thread lanes
    load_match      which handler task served which request (one matcher: live and report)
    load_lanes      client / handler lanes from ViewOptions (per request or per user)
    load_stats      window statistics (one function: live window and whole-run report)
    load_report     the report's per-request and server parts
    load_replay     a recorded LoadUpdate feed replayed (the load screen without a server)
  explain_load      LoadStats and the plain-language caption

Nothing in this package imports textual.
"""
