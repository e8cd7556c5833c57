"""Run a uvicorn server (an ASGI app) as a child process on 127.0.0.1, and stop it reliably.

    from coffeeshop_tui.scenarios.web.server import WebServer, ServerError

    with WebServer() as srv:                 # coffeeshop_tui.scenarios.web.app:app on a free port
        print(srv.url, srv.pid)              # http://127.0.0.1:PORT  1234
    # or: srv = WebServer("mypkg.main:app", port=8000).start(); ...; srv.stop()

* The parent binds the listening socket (so a port in use raises :class:`ServerError` with a
  clear message, before any child is started) and hands it to the child
  (``coffeeshop_tui.scenarios.web.serve_child``), which runs uvicorn on an event loop it creates itself.
* Ready-check: polls ``GET /health`` (any HTTP answer counts, so apps without /health work);
  if the child exits first, the error includes the tail of its stderr.
* Stopping: :meth:`WebServer.stop` (SIGTERM to the child's process group, then SIGKILL),
  context-manager exit, and an atexit hook. If the parent dies, even by SIGKILL, the child
  exits too (PR_SET_PDEATHSIG, a getppid watchdog, and EOF on its stdin pipe).
"""

from __future__ import annotations

import atexit
import errno
import http.client
import ipaddress
import os
import socket
import subprocess
import tempfile
import threading
import time
import weakref

from coffeeshop_tui.scenarios.procs import Child, spawn
from coffeeshop_tui.scenarios.protocol import DEFER_BYTES, PIPE_BYTES, read_messages

DEFAULT_APP = "coffeeshop_tui.scenarios.web.app:app"


class ServerError(RuntimeError):
    """The server could not be started (port in use, child crashed, not ready in time...)."""


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], ppid is [1])."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    return data.rsplit(")", 1)[1].split()


def pid_alive(pid: int | None) -> bool:
    """True when a process with this pid exists and is not a zombie (Linux: /proc)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _proc_stat(pid)
    return not (stat and stat[0] == "Z")


def child_pids(parent: int | None = None) -> list[int]:
    """Pids of the live (non-zombie) child processes of `parent` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _proc_stat(int(name))
            if stat and stat[1] == str(parent) and stat[0] != "Z":
                out.append(int(name))
    return out


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR: restart() can rebind at once despite TIME_WAIT connections; it does
        # NOT let us bind a port another socket is listening on (Linux semantics).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServerError(
                f"port {port} on {host} is already in use (another server is listening there); "
                f"choose another port, or leave the port unset to pick a free one"
            ) from None
        if exc.errno == errno.EACCES:
            raise ServerError(f"not allowed to bind {host}:{port} ({exc.strerror})") from None
        raise ServerError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


_live_servers: "weakref.WeakSet[WebServer]" = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    for srv in list(_live_servers):
        try:
            srv.stop(timeout=2.0)
        except Exception:
            pass


class WebServer:
    """A uvicorn child process serving one ASGI app on a loopback address.

    Args:
        app: ``"module:attr"`` of an ASGI app (default: the coffeeshop demo app).
        host: a loopback address (default 127.0.0.1).
        port: None or 0 -> a free port; else that port (ServerError if in use).
        max_in_flight: 503 limit. For the default app it is passed as COFFEESHOP_MAX_IN_FLIGHT;
            for other apps it needs ``wrap=True``.
        pool_size: anyio default thread limiter tokens at start (default: anyio's 40).
        wrap: wrap the app in LabMiddleware (request-id echo, /_admin/pool, 503 limit).
            Default: True for user apps, False for the demo app (it already has it).
        ready_timeout: seconds to wait for the first HTTP answer.
        cwd: working directory of the child (a user's module is imported relative to it).
        env: extra environment variables for the child.
        log_level: uvicorn's log level in the child.
        graceful_timeout: seconds uvicorn waits for in-flight requests on SIGTERM.
        record: record the server's event loop into ``timeline`` (a new Timeline at each start).
        block_ms: the recording's block threshold.
        loop_queue: keep what the loop held (ready queue, timers, fds: ``loop_moment.loop_at``) in
            that Timeline too (the child always sends it; without a view that asks, it is dropped).
        defer_events: for a reader that looks at the recording only once the server has
            stopped (a headless ``load --json``): the child's batches are only read while it
            runs, and decoded into ``timeline`` at its end (``protocol.Reader``'s
            ``defer_bytes``: bounded memory), so this process -- which also runs the load
            generator -- does not spend its CPU and GIL on them meanwhile.
    """

    def __init__(
        self,
        app: str = DEFAULT_APP,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        max_in_flight: int | None = None,
        pool_size: int | None = None,
        wrap: bool | None = None,
        ready_timeout: float = 20.0,
        cwd: str | os.PathLike | None = None,
        env: dict[str, str] | None = None,
        log_level: str = "warning",
        graceful_timeout: int = 1,
        record: bool = False,
        block_ms: float = 25.0,
        loop_queue: bool = False,
        defer_events: bool = False,
    ) -> None:
        module, _, attr = app.partition(":")
        if not module or not attr:
            raise ServerError(f"app must look like 'module:attribute', got {app!r}")
        if not is_loopback_host(host):
            raise ServerError(f"refusing to serve on {host!r}: only loopback addresses are allowed")
        self.app = app
        self.host = host
        self._requested_port = port or 0
        self.max_in_flight = max_in_flight
        self.pool_size = pool_size
        self.wrap = (app != DEFAULT_APP) if wrap is None else wrap
        self.ready_timeout = ready_timeout
        self.cwd = str(cwd) if cwd is not None else None
        self.extra_env = dict(env or {})
        self.log_level = log_level
        self.graceful_timeout = graceful_timeout
        #: With record=True the server's event loop is recorded and streamed into
        #: ``timeline`` (a coffeeshop_tui.scenarios.timeline.Timeline; read it holding ``lock``), a new
        #: one at each start.
        self.record = record
        self.block_ms = block_ms
        self.loop_queue = loop_queue
        self.defer_events = defer_events
        self.timeline = None
        self.lock = threading.RLock()
        self._events_reader: threading.Thread | None = None

        self._child: Child | None = None
        self._port: int | None = None
        self._log_file = None  # an unnamed temporary file: gone on every exit path, even SIGKILL
        self._last_log = ""
        self._lock = threading.RLock()

    # -- properties -----------------------------------------------------------------------------
    @property
    def port(self) -> int | None:
        return self._port

    @property
    def url(self) -> str:
        if self._port is None:
            raise ServerError("server not started")
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"http://{host}:{self._port}"

    @property
    def _proc(self):
        return self._child.proc if self._child is not None else None

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def alive(self) -> bool:
        return self._child is not None and self._child.alive()

    def log_tail(self, max_chars: int = 4000) -> str:
        """The last characters the child wrote to stdout/stderr (also after it stopped)."""
        if self._log_file is None:
            return self._last_log[-max_chars:]
        return self._read_tail(self._log_file.fileno(), max_chars)

    @staticmethod
    def _read_tail(fd: int, max_chars: int = 4000) -> str:
        try:
            size = os.fstat(fd).st_size
            return os.pread(fd, max_chars, max(0, size - max_chars)).decode("utf-8", "replace")
        except OSError:
            return ""

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "WebServer":
        with self._lock:
            if self.alive():
                return self
            self._cleanup()
            port = self._port if self._port is not None else self._requested_port
            sock = _bind(self.host, port)
            try:
                self._port = sock.getsockname()[1]
                self._spawn(sock)
            finally:
                sock.close()  # the child has its own copy; ours must not queue connections
            _live_servers.add(self)
        self._wait_ready()
        return self

    def _command(self, fd: int, events_fd: int | None = None) -> list[str]:
        cmd = ["--fd", str(fd), "--app", self.app, "--parent-pid", str(os.getpid()),
               "--log-level", self.log_level, "--graceful-timeout", str(self.graceful_timeout)]
        if self.wrap:
            cmd.append("--wrap")
            if self.max_in_flight:
                cmd += ["--max-in-flight", str(self.max_in_flight)]
        if self.pool_size:
            cmd += ["--pool-size", str(self.pool_size)]
        if self.cwd:
            cmd += ["--app-dir", self.cwd]
        if events_fd is not None:
            cmd += ["--events-fd", str(events_fd), "--block-ms", str(self.block_ms)]
        return cmd

    def _spawn(self, sock: socket.socket) -> None:
        env = dict(self.extra_env)
        if not self.wrap and self.max_in_flight:
            env["COFFEESHOP_MAX_IN_FLIGHT"] = str(self.max_in_flight)
        self._log_file = tempfile.TemporaryFile(prefix="coffeeshop-server-", suffix=".log")
        fd = sock.fileno()
        pass_fds: tuple[int, ...] = (fd,)
        ev_read = ev_write = None
        if self.record:
            from coffeeshop_tui.scenarios.timeline import Timeline

            ev_read, ev_write = os.pipe()
            pass_fds = (fd, ev_write)
            with self.lock:
                # what the loop held (loop_moment.LoopLog): kept only for a view that asks
                self.timeline = Timeline(block_ms=self.block_ms, loop_queue=self.loop_queue)
        try:
            self._child = spawn(
                "coffeeshop_tui.scenarios.web.serve_child",
                self._command(fd, ev_write),
                stdout=self._log_file,  # stdin: a pipe; our end closes when we die -> EOF
                stderr=subprocess.STDOUT,
                pass_fds=pass_fds,
                cwd=self.cwd,
                env=env,
            )
        except BaseException:
            if ev_read is not None:
                os.close(ev_read)
            raise
        finally:
            if ev_write is not None:
                os.close(ev_write)
        if ev_read is not None:
            self._events_reader = threading.Thread(
                target=self._read_events, args=(ev_read, self.timeline), name="server-events", daemon=True)
            self._events_reader.start()

    def _read_events(self, fd: int, timeline) -> None:
        """Feed the child's recorder batches (protocol messages) into ``timeline``."""
        # a batch in one read (not 8 KB at a time): each read lets the load generator's thread
        # take the GIL, and this one waits up to the switch interval to get it back
        with os.fdopen(fd, "rb", buffering=PIPE_BYTES) as f:
            for msg in read_messages(f, defer_bytes=DEFER_BYTES if self.defer_events else 0):
                kind = msg["type"]
                with self.lock:
                    if kind == "batch":
                        timeline.ingest(msg)
                    elif kind == "start":
                        timeline.start(msg["t"])
                    elif kind == "end":
                        timeline.finish(msg["t"])
        with self.lock:  # the child is gone (also when killed): the recording is complete
            if timeline.end_ns is None and timeline.start_ns is not None:
                timeline.finish(time.monotonic_ns())

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            rc = self._proc.poll() if self._proc else -1
            if rc is not None:
                tail = self.log_tail().strip() or "(no output)"
                self._cleanup()
                raise ServerError(
                    f"server child for {self.app!r} exited with code {rc} before it was ready; "
                    f"its output ends with:\n{tail}"
                )
            if self._probe():
                return
            if time.monotonic() > deadline:
                tail = self.log_tail().strip() or "(no output)"
                self.stop()
                raise ServerError(
                    f"server for {self.app!r} did not answer on {self.url} within "
                    f"{self.ready_timeout:.0f} s; its output ends with:\n{tail}"
                )
            time.sleep(0.05)

    def _probe(self) -> bool:
        conn = http.client.HTTPConnection(self.host.strip("[]"), self._port, timeout=1.0)
        try:
            conn.request("GET", "/health")
            conn.getresponse().read()
            return True  # any HTTP answer (even 404) means uvicorn is serving
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the child's process group, SIGKILL after `timeout`; reap the child."""
        with self._lock:
            if self._child is None:
                return
            self._child.stop(term_s=timeout if self._child.alive() else 0.0)
            self._cleanup()

    def kill(self) -> None:
        """SIGKILL the child's process group at once (simulates a crash); reaps it."""
        with self._lock:
            if self._child is None:
                return
            self._child.kill_group()
            try:
                self._child.proc.wait(5.0)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
            # keep _child so returncode/alive() describe the dead child until restart()/stop()

    def restart(self) -> "WebServer":
        """Stop (if running) and start again on the same port."""
        self.stop()
        return self.start()

    def _cleanup(self) -> None:
        child, self._child = self._child, None
        reader, self._events_reader = self._events_reader, None
        if child is not None:
            child.stop()  # SIGKILL whatever is left of the group, reap, close our pipe end
        _live_servers.discard(self)
        if reader is not None and reader is not threading.current_thread():
            # the pipe closes when the child (and its group) is gone; deferred batches are
            # decoded then
            reader.join(timeout=60 if self.defer_events else 5)
        if self._log_file is not None:
            self._last_log = self._read_tail(self._log_file.fileno())
            self._log_file.close()
            self._log_file = None

    # -- context manager ------------------------------------------------------------------------
    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "alive" if self.alive() else "stopped"
        return f"<WebServer {self.app} {self.host}:{self._port} pid={self.pid} {state}>"


def start_server(app: str = DEFAULT_APP, **kwargs) -> WebServer:
    """Start a :class:`WebServer` and return it (ready to serve)."""
    return WebServer(app, **kwargs).start()
