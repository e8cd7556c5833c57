/* The recorder's hot path in C: the patched asyncio ``Handle._run`` / ``TimerHandle._run``.
 *
 * Optional accelerator for ``recorder_hooks.traced_run`` / ``traced_timer_run`` (pure Python,
 * always there): same behaviour, column for column. ``recorder_hooks`` loads it when it was
 * built (setup.py, ``optional=True``) unless COFFEESHOP_RECORDER=python.
 *
 * Per step: the same loop check (other loops' handles run through the original ``_run``), the
 * owner (``callback.__self__``), CLOCK_MONOTONIC before and after (= ``time.monotonic_ns``),
 * ``context.run(callback, *args)`` done as ``Context.run`` does it, then STEP_COLS int64
 * columns written straight into a ``Steps`` buffer (no Python call). Rare paths call back
 * into the Python functions the pure-Python hook uses: ``_report`` (a callback's exception),
 * ``_learn_type`` (an unknown owner type); a late timer's tasks and a task's end (Python:
 * ``Recorder._note_late_timer``, ``_finished``) are noted here, into the recorder's lists. C adds no Python frame, keeps no reference to a task
 * or handle after the step, and lets SystemExit / KeyboardInterrupt through unrecorded.
 *
 * Adding a column (e.g. a wait reason): bump STEP_COLS (and ``recorder_hooks.STEP_COLS``,
 * checked at import), compute the value in ``step()`` at "MORE COLUMNS" and write it after
 * the owner's id. Bump ABI whenever the Python side must not load an older build.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define ABI 11
#define STEP_COLS 3

#if defined(__APPLE__)
static inline int64_t now_ns(void) { return (int64_t)clock_gettime_nsec_np(CLOCK_UPTIME_RAW); }
#elif defined(CLOCK_MONOTONIC)
static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
#else
#error "no monotonic clock matching time.monotonic_ns here: the pure-Python recorder is used"
#endif

/* ------------------------------------------------------------------ the steps' clock
 * step_ns(): now_ns() (CLOCK_MONOTONIC) as the loop's thread reads it at every step, every
 * new task and every timer: ~230,000 times for 10,000 tasks x 10 sleep(0). Where the
 * kernel's own clocksource is the TSC (Linux, x86-64; it then vouches that the TSC runs at
 * one rate on every CPU), it reads the TSC instead (~20 ns against ~37 ns for clock_gettime
 * here) and maps it onto CLOCK_MONOTONIC linearly: the rate measured since the first reading
 * (at least TSC_BASE_NS long; exact clock_gettime until then), re-based on clock_gettime
 * every TSC_SPAN_NS. The mapping is off by the rate's error over one span (nanoseconds; the
 * kernel's NTP slewing, at most 500 ppm, bounds it at 10 us) and never runs backwards (a
 * re-base that lands earlier is clamped). COFFEESHOP_RECORDER_TSC=0 switches it off. */
#if defined(__linux__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <x86intrin.h>
#define HAVE_TSC 1
#define TSC_BASE_NS 10000000LL /* 10 ms: the rate's first baseline */
#define TSC_SPAN_NS 20000000LL /* 20 ms: re-based on clock_gettime this often */
typedef struct {
    int64_t tsc0, ns0; /* a reading of both clocks */
    uint64_t mult;     /* ns per tick, 32.32 fixed point */
    int64_t span;      /* ticks in TSC_SPAN_NS */
} TscMap;
static TscMap tsc_maps[2];
static int tsc_cur = -1;  /* the map in use (-1: none yet) */
static int tsc_on = 0;    /* the kernel's clocksource is the TSC, and not switched off */
static int64_t tsc_first = 0, ns_first = 0; /* the first reading: the rate's baseline */
static int64_t tsc_last_ns = 0; /* the latest value returned (never backwards) */

static void
tsc_setup(void)
{
    const char *env = getenv("COFFEESHOP_RECORDER_TSC");
    if (env != NULL && env[0] == '0')
        return;
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f == NULL)
        return;
    char buf[16] = {0};
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    tsc_on = n >= 3 && strncmp(buf, "tsc", 3) == 0 && (buf[3] == '\n' || buf[3] == 0);
}

/* a reading of both clocks, then a new map if the baseline is long enough: returns the exact ns */
static int64_t
tsc_rebase(void)
{
    int64_t a = (int64_t)__rdtsc();
    int64_t ns = now_ns();
    int64_t b = (int64_t)__rdtsc();
    int64_t tsc = a + (b - a) / 2;
    if (tsc_first == 0) {
        tsc_first = tsc;
        ns_first = ns;
    }
    else if (ns - ns_first >= TSC_BASE_NS && tsc > tsc_first) {
        uint64_t mult = (uint64_t)(((unsigned __int128)(ns - ns_first) << 32) / (uint64_t)(tsc - tsc_first));
        if (mult > 0) {
            int next = tsc_cur == 0 ? 1 : 0;
            tsc_maps[next].tsc0 = tsc;
            tsc_maps[next].ns0 = ns;
            tsc_maps[next].mult = mult;
            tsc_maps[next].span = (int64_t)(((unsigned __int128)TSC_SPAN_NS << 32) / mult);
            __atomic_store_n(&tsc_cur, next, __ATOMIC_RELEASE);
        }
    }
    if (ns < tsc_last_ns)
        ns = tsc_last_ns;
    tsc_last_ns = ns;
    return ns;
}

static inline int64_t
step_ns(void)
{
    if (!tsc_on)
        return now_ns();
    int i = __atomic_load_n(&tsc_cur, __ATOMIC_ACQUIRE);
    if (i >= 0) {
        const TscMap *m = &tsc_maps[i];
        int64_t d = (int64_t)__rdtsc() - m->tsc0;
        if (d >= 0 && d < m->span) {
            int64_t t = m->ns0 + (int64_t)(((unsigned __int128)(uint64_t)d * m->mult) >> 32);
            if (t < tsc_last_ns)
                t = tsc_last_ns;
            tsc_last_ns = t;
            return t;
        }
    }
    return tsc_rebase();
}
#else
static void tsc_setup(void) {}
static inline int64_t step_ns(void) { return now_ns(); }
#endif

/* ------------------------------------------------------------------------ the step buffer */
typedef struct {
    PyObject_HEAD
    int64_t *data;
    Py_ssize_t len; /* int64 values, `cols` a row */
    Py_ssize_t cap;
    Py_ssize_t cols;
} Steps;

static PyTypeObject Steps_Type;

static int
steps_reserve(Steps *s, Py_ssize_t more)
{
    if (s->len + more <= s->cap)
        return 0;
    Py_ssize_t cap = s->cap ? s->cap : s->cols * 4096;
    while (cap < s->len + more)
        cap *= 2;
    int64_t *d = PyMem_Realloc(s->data, (size_t)cap * sizeof(int64_t));
    if (d == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->data = d;
    s->cap = cap;
    return 0;
}

static void
steps_dealloc(Steps *s)
{
    PyMem_Free(s->data);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static Py_ssize_t
steps_len(Steps *s) { return s->len; }

static PyObject *
steps_item(Steps *s, Py_ssize_t i)
{
    if (i < 0 || i >= s->len) {
        PyErr_SetString(PyExc_IndexError, "Steps index out of range");
        return NULL;
    }
    return PyLong_FromLongLong(s->data[i]);
}

/* take([rows]): the first `rows` complete rows (default: all) as native int64 bytes
 * (array('q').frombytes), removed from the buffer. */
static PyObject *
steps_take(Steps *s, PyObject *args)
{
    Py_ssize_t rows = -1;
    if (!PyArg_ParseTuple(args, "|n:take", &rows))
        return NULL;
    Py_ssize_t n = s->len - s->len % s->cols;
    if (rows >= 0 && rows * s->cols < n)
        n = rows * s->cols;
    PyObject *out = PyBytes_FromStringAndSize((const char *)s->data, n * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL)
        return NULL;
    if (n < s->len)
        memmove(s->data, s->data + n, (size_t)(s->len - n) * sizeof(int64_t));
    s->len -= n;
    if (s->cap > s->cols * 65536 && s->len < s->cap / 8) { /* give a burst's memory back */
        Py_ssize_t cap = s->cols * 4096;
        while (cap < s->len)
            cap *= 2;
        int64_t *d = PyMem_Realloc(s->data, (size_t)cap * sizeof(int64_t));
        if (d != NULL) {
            s->data = d;
            s->cap = cap;
        }
    }
    return out;
}

static PyObject *
steps_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kw[] = {"cols", NULL};
    Py_ssize_t cols = STEP_COLS;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|n:Steps", kw, &cols))
        return NULL;
    if (cols < 1 || cols > 64) {
        PyErr_SetString(PyExc_ValueError, "Steps(cols): 1 to 64 columns");
        return NULL;
    }
    Steps *s = (Steps *)type->tp_alloc(type, 0);
    if (s != NULL)
        s->cols = cols;
    return (PyObject *)s;
}

static int
steps_push3(Steps *s, int64_t a, int64_t b, int64_t c)
{
    if (steps_reserve(s, 3) < 0)
        return -1;
    int64_t *p = s->data + s->len;
    p[0] = a;
    p[1] = b;
    p[2] = c;
    s->len += 3;
    return 0;
}

/* long_rows(start, stop, min_ns): [(c0, c1), ...] of the rows from flat index `start` (a row's
 * first value) to `stop` whose c1 - c0 >= min_ns: the long steps, found without a Python
 * object a row (the watchdog scans every step recorded since its last tick: gil_probe.py). */
static PyObject *
steps_long_rows(Steps *s, PyObject *args)
{
    Py_ssize_t start, stop;
    long long min_ns;
    if (!PyArg_ParseTuple(args, "nnL:long_rows", &start, &stop, &min_ns))
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    if (start < 0)
        start = 0;
    if (stop > s->len - s->len % s->cols)
        stop = s->len - s->len % s->cols;
    for (Py_ssize_t i = start; s->cols >= 2 && i + 1 < stop; i += s->cols) {
        if (s->data[i + 1] - s->data[i] >= min_ns) {
            PyObject *row = Py_BuildValue("(LL)", (long long)s->data[i], (long long)s->data[i + 1]);
            if (row == NULL || PyList_Append(out, row) < 0) {
                Py_XDECREF(row);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(row);
        }
    }
    return out;
}

/* push(v0, ..., v{cols-1}): one row (rare rows written from Python: timers set before install) */
static PyObject *
steps_push(Steps *s, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != s->cols) {
        PyErr_Format(PyExc_TypeError, "push() takes %zd values (one row), %zd given", s->cols, nargs);
        return NULL;
    }
    int64_t row[64];
    for (Py_ssize_t i = 0; i < nargs; i++) {
        row[i] = PyLong_AsLongLong(args[i]);
        if (row[i] == -1 && PyErr_Occurred())
            return NULL;
    }
    if (steps_reserve(s, nargs) < 0)
        return NULL;
    memcpy(s->data + s->len, row, (size_t)nargs * sizeof(int64_t));
    s->len += nargs;
    Py_RETURN_NONE;
}

static PyObject *
steps_clear(Steps *s, PyObject *Py_UNUSED(ignored))
{
    s->len = 0;
    Py_RETURN_NONE;
}

static PyObject *
steps_itemsize(Steps *s, void *Py_UNUSED(c)) { return PyLong_FromLong((long)sizeof(int64_t)); }

static PySequenceMethods steps_as_seq = {
    .sq_length = (lenfunc)steps_len,
    .sq_item = (ssizeargfunc)steps_item,
};
static PyMethodDef steps_methods[] = {
    {"take", (PyCFunction)steps_take, METH_VARARGS, "take([rows]) -> bytes: the first rows (default all), removed"},
    {"clear", (PyCFunction)steps_clear, METH_NOARGS, "drop everything recorded"},
    {"push", (PyCFunction)(void (*)(void))steps_push, METH_FASTCALL, "push(*row): append one row of ints"},
    {"long_rows", (PyCFunction)steps_long_rows, METH_VARARGS,
     "long_rows(start, stop, min_ns) -> [(c0, c1)]: the rows from flat index start to stop with c1 - c0 >= min_ns"},
    {NULL}
};
static PyObject *
steps_cols(Steps *s, void *Py_UNUSED(c)) { return PyLong_FromSsize_t(s->cols); }

static PyGetSetDef steps_getset[] = {
    {"itemsize", (getter)steps_itemsize, NULL, "bytes per value", NULL},
    {"cols", (getter)steps_cols, NULL, "values a row", NULL},
    {NULL}
};
static PyTypeObject Steps_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coffeeshop_tui.scenarios._fastpath.Steps",
    .tp_basicsize = sizeof(Steps),
    .tp_dealloc = (destructor)steps_dealloc,
    .tp_as_sequence = &steps_as_seq,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Steps(cols=STEP_COLS): an int64 buffer the compiled hooks write rows to.",
    .tp_methods = steps_methods,
    .tp_getset = steps_getset,
    .tp_new = steps_new,
};

/* ----------------------------------------------------------------------------- the state */
/* set once by setup() */
static PyObject *orig_run, *report_fn, *finished_fn, *learn_fn, *taskish, *task_type;
/* recorder_hooks' globals(); its "_waiting" (wait_reasons: what a pending task awaits) is
 * cur_waiting, kept up to date by recorder_hooks.set_waiting (a benchmark swaps it) */
static PyObject *hooks_globals, *s_fut_waiter, *cur_waiting;
static PyTypeObject *handle_type, *timer_type;
static Py_ssize_t off_loop = -1, off_callback = -1, off_args = -1, off_context = -1, off_when = -1;
static Py_ssize_t off_source_tb = -1, off_scheduled = -1;
/* set by target(): the recording in progress (NULL: none), and its Recorder (recorder_hooks._active) */
static PyObject *cur_loop, *cur_rec;
static Steps *cur_steps;
static PyObject *note_late;
static PyObject *cur_done; /* the recorder's list of finished tasks: (id, t_ns, outcome, name) */
static PyObject *cur_ready; /* the recorder's (task id, ready since) of late timers: Steps(2) rows, or a list */
/* wait reasons' common case, a sleep, noted here as wait_reasons.classify would (set_waits()):
 * the Python _waiting it stands for, the Future type, asyncio.sleep's code, the shared reason */
static PyObject *waiting_fn, *future_type, *sleep_code, *sleep_reason, *s_coro, *s_cr_await;
static PyObject *cur_wait_add; /* the recorder's _wait_at: Steps(2) rows (raw id, t_ns), or its append */
static PyObject *cur_wait_why; /* the recorder's list of reasons, one a pair */
static int64_t late_ns = 2000000;
/* asyncio.current_task and, where it is `_current_tasks.get(loop)` in Python (3.11), that dict:
 * read directly (set_current_tasks), not through a Python call, for each timer and task made */
static PyObject *ct_fn, *ct_dict;
/* interned names */
static PyObject *s_loop, *s_callback, *s_args, *s_context, *s_when, *s_self, *s_state, *s_pending, *s_run;
static PyObject *s_cancelled_state, *s_exception, *s_get_name, *s_cancelled, *s_error, *s_ok;
static PyObject *s_callbacks, *s_source_tb, *s_cr_code, *s_cr_suspended, *s_cr_frame, *s_done, *s_name;

/* A getset attribute read through its getter, for objects of exactly the type it was found on:
 * what PyObject_GetAttr finds first there (a data descriptor of an immutable type with the
 * generic attribute lookup), without the lookup. Set up by direct_init (setup()). */
typedef struct {
    PyTypeObject *tp; /* NULL: not usable, PyObject_GetAttr */
    getter get;
    void *closure;
} Direct;

static Direct d_state, d_fut_waiter, d_coro, d_cr_await, d_fut_state;

static void
direct_init(Direct *d, PyTypeObject *tp, const char *name)
{
    d->tp = NULL;
    if (tp == NULL || !PyType_HasFeature(tp, Py_TPFLAGS_IMMUTABLETYPE) || tp->tp_getattro != PyObject_GenericGetAttr)
        return;
    PyObject *descr = PyObject_GetAttrString((PyObject *)tp, name);
    if (descr == NULL) {
        PyErr_Clear();
        return;
    }
    if (Py_IS_TYPE(descr, &PyGetSetDescr_Type) && ((PyGetSetDescrObject *)descr)->d_getset->get != NULL
        && PyType_IsSubtype(tp, PyDescr_TYPE(descr))) {
        d->get = ((PyGetSetDescrObject *)descr)->d_getset->get;
        d->closure = ((PyGetSetDescrObject *)descr)->d_getset->closure;
        d->tp = tp;
    }
    Py_DECREF(descr); /* (the type's dict keeps it: an immutable type's attributes stay) */
}

static inline PyObject *
get_attr(PyObject *obj, Direct *d, PyObject *name)
{
    if (d->tp != NULL && Py_IS_TYPE(obj, d->tp))
        return d->get(obj, d->closure);
    return PyObject_GetAttr(obj, name);
}

static inline PyObject *
slot(PyObject *obj, Py_ssize_t off, PyObject *name, int fast)
{
    if (fast && off >= 0) {
        PyObject *v = *(PyObject **)((char *)obj + off);
        if (v != NULL) {
            Py_INCREF(v);
            return v;
        }
    }
    return PyObject_GetAttr(obj, name); /* also raises what a missing slot raises */
}

/* getattr(cb, "__self__", None): new reference, NULL on a real error */
static PyObject *
owner_of(PyObject *cb)
{
    if (PyMethod_Check(cb)) {
        PyObject *s = PyMethod_GET_SELF(cb);
        Py_INCREF(s);
        return s;
    }
    if (PyCFunction_Check(cb)) {
        PyObject *s = PyCFunction_GET_SELF(cb);
        if (s == NULL)
            s = Py_None;
        Py_INCREF(s);
        return s;
    }
    if (PyFunction_Check(cb) && ((PyFunctionObject *)cb)->func_dict == NULL) { /* no __self__ anywhere */
        Py_INCREF(Py_None);
        return Py_None;
    }
    PyObject *res = NULL;
#if PY_VERSION_HEX >= 0x030D0000
    int r = PyObject_GetOptionalAttr(cb, s_self, &res);
#else
    int r = _PyObject_LookupAttr(cb, s_self, &res);
#endif
    if (r < 0)
        return NULL;
    if (r == 0) {
        Py_INCREF(Py_None);
        return Py_None;
    }
    return res;
}

/* context.run(cb, *args), as Context.run does it (no frame of ours) */
static PyObject *
run_in_context(PyObject *ctx, PyObject *cb, PyObject *args)
{
    if (PyContext_CheckExact(ctx) && PyTuple_CheckExact(args)) {
        if (PyContext_Enter(ctx) < 0)
            return NULL;
        PyObject *res = PyObject_Vectorcall(cb, &PyTuple_GET_ITEM(args, 0), PyTuple_GET_SIZE(args), NULL);
        if (PyContext_Exit(ctx) < 0) {
            Py_XDECREF(res);
            return NULL;
        }
        return res;
    }
    /* anything else: the Python call, literally */
    PyObject *run = PyObject_GetAttr(ctx, s_run);
    if (run == NULL)
        return NULL;
    PyObject *tail = PySequence_Tuple(args);
    if (tail == NULL) {
        Py_DECREF(run);
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(tail);
    PyObject *all = PyTuple_New(n + 1);
    PyObject *res = NULL;
    if (all != NULL) {
        Py_INCREF(cb);
        PyTuple_SET_ITEM(all, 0, cb);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *x = PyTuple_GET_ITEM(tail, i);
            Py_INCREF(x);
            PyTuple_SET_ITEM(all, i + 1, x);
        }
        res = PyObject_Call(run, all, NULL);
        Py_DECREF(all);
    }
    Py_DECREF(tail);
    Py_DECREF(run);
    return res;
}

/* the exception just raised, normalized, with its traceback attached (new reference) */
static PyObject *
take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* wait_reasons.classify's fast path: the task's chain of coroutines ends in asyncio.sleep's.
 * Then note (id, t) and the shared sleep reason as recorder_hooks._waiting does, and return 1;
 * 0: not a sleep (classify in Python); -1 with an exception set. */
static int
note_sleep(PyObject *task, int64_t t)
{
    PyObject *c = get_attr(task, &d_coro, s_coro);
    if (c == NULL) {
        PyErr_Clear();
        return 0;
    }
    while (PyCoro_CheckExact(c)) {
        PyObject *n = get_attr(c, &d_cr_await, s_cr_await);
        if (n == NULL) {
            PyErr_Clear();
            Py_DECREF(c);
            return 0;
        }
        if (!PyCoro_CheckExact(n)) {
            Py_DECREF(n);
            break;
        }
        Py_DECREF(c);
        c = n;
    }
    int is_sleep = 0;
    if (PyCoro_CheckExact(c)) {
#if PY_VERSION_HEX < 0x030C0000
        is_sleep = (PyObject *)((PyCoroObject *)c)->cr_code == sleep_code; /* what cr_code returns */
#else
        PyObject *code = PyObject_GetAttr(c, s_cr_code);
        if (code == NULL)
            PyErr_Clear();
        is_sleep = code != NULL && code == sleep_code;
        Py_XDECREF(code);
#endif
    }
    Py_DECREF(c);
    if (!is_sleep)
        return 0;
    if (Py_IS_TYPE(cur_wait_add, &Steps_Type)) { /* (raw id, t) rows: no Python call, no int object */
        Steps *st = (Steps *)cur_wait_add;
        if (st->cols != 2)
            return 0;
        if (steps_reserve(st, 2) < 0)
            return -1;
        if (PyList_Append(cur_wait_why, sleep_reason) < 0)
            return -1;
        st->data[st->len] = (int64_t)(uintptr_t)task;
        st->data[st->len + 1] = t;
        st->len += 2;
        return 1;
    }
    PyObject *id = PyLong_FromVoidPtr(task);
    PyObject *tt = id ? PyLong_FromLongLong(t) : NULL;
    PyObject *r1 = tt ? PyObject_CallOneArg(cur_wait_add, id) : NULL;
    PyObject *r2 = r1 ? PyObject_CallOneArg(cur_wait_add, tt) : NULL;
    int ok = r2 != NULL && PyList_Append(cur_wait_why, sleep_reason) == 0;
    Py_XDECREF(id);
    Py_XDECREF(tt);
    Py_XDECREF(r1);
    Py_XDECREF(r2);
    return ok ? 1 : -1;
}

/* A pending task's step ended: if it awaits a future (``task._fut_waiter``), call
 * recorder_hooks._waiting(task, t) to note on what. 0, or -1 with an exception set. */
static int
note_waiting(PyObject *task, int64_t t)
{
    if (hooks_globals == NULL)
        return 0;
    PyObject *w = get_attr(task, &d_fut_waiter, s_fut_waiter);
    if (w == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    int waits = w != Py_None;
    int plain_future = future_type != NULL && (PyObject *)Py_TYPE(w) == future_type;
    Py_DECREF(w);
    if (!waits)
        return 0;
    PyObject *fn = cur_waiting; /* borrowed (recorder_hooks._waiting) */
    if (fn == NULL)
        return 0;
    if (plain_future && fn == waiting_fn && cur_wait_add != NULL && cur_wait_why != NULL) {
        int r = note_sleep(task, t);
        if (r != 0)
            return r < 0 ? -1 : 0;
    }
    PyObject *tt = PyLong_FromLongLong(t);
    if (tt == NULL)
        return -1;
    PyObject *r = PyObject_CallFunctionObjArgs(fn, task, tt, NULL);
    Py_DECREF(tt);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* recorder_hooks._finished, in C: a task is done; note when, how and under which name */
static int
note_finished(PyObject *task, PyObject *state, int64_t t)
{
    if (cur_done == NULL)
        return 0;
    PyObject *outcome;
    int c = PyObject_RichCompareBool(state, s_cancelled_state, Py_EQ);
    if (c < 0)
        return -1;
    if (c) {
        outcome = s_cancelled;
    }
    else { /* reading _exception does not "retrieve" it */
        PyObject *exc = PyObject_GetAttr(task, s_exception);
        if (exc == NULL)
            return -1;
        outcome = exc != Py_None ? s_error : s_ok;
        Py_DECREF(exc);
    }
    PyObject *name = PyObject_CallMethodNoArgs(task, s_get_name);
    if (name == NULL)
        return -1;
    PyObject *item = Py_BuildValue("(LLON)", (long long)(uintptr_t)task, (long long)t, outcome, name);
    if (item == NULL)
        return -1;
    int r = PyList_Append(cur_done, item);
    Py_DECREF(item);
    return r;
}

/* Recorder._note_late_timer, in C: the task(s) a late timer wakes (its callback's owner, and
 * the tasks waiting on a future among its arguments) were ready since `due`. Never disturbs
 * the loop: an Exception here is dropped, as there. */
static int
ready_if_task(PyObject *obj, int64_t due)
{
    if (obj == Py_None)
        return 0;
    int is = PyObject_IsInstance(obj, task_type);
    if (is <= 0)
        return is;
    if (Py_IS_TYPE(cur_ready, &Steps_Type)) { /* (task id, ready since) rows: no object a late task */
        Steps *st = (Steps *)cur_ready;
        if (st->cols != 2 || steps_reserve(st, 2) < 0)
            return st->cols != 2 ? 0 : -1;
        st->data[st->len] = (int64_t)(uintptr_t)obj;
        st->data[st->len + 1] = due;
        st->len += 2;
        return 0;
    }
    PyObject *item = Py_BuildValue("(LL)", (long long)(uintptr_t)obj, (long long)due);
    if (item == NULL)
        return -1;
    int r = PyList_Append(cur_ready, item);
    Py_DECREF(item);
    return r;
}

/* The owners of a list of (callback, context) pairs (a future's ``_callbacks``) were ready since `due` */
static int
ready_pairs(PyObject *cbs, int64_t due)
{
    for (Py_ssize_t j = 0; j < PySequence_Fast_GET_SIZE(cbs); j++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(cbs, j);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2)
            continue;
        PyObject *who = owner_of(PyTuple_GET_ITEM(pair, 0));
        if (who == NULL)
            return -1;
        int r = ready_if_task(who, due);
        Py_DECREF(who);
        if (r < 0)
            return -1;
    }
    return 0;
}

/* A pending asyncio Future (the C one) reaches its callbacks as its first callback and a list
 * of (callback, context) pairs; ``fut._callbacks`` builds a new list of pairs of them. Its
 * traversal visits the same callbacks, in the same order, and builds nothing: each one it
 * visits that is not the loop, its context, a string or a dict (what else a pending future
 * holds) is a callback. */
typedef struct {
    int64_t due;
    PyObject *loop;
    int err;
} LateVisit;

static int
late_visit(PyObject *o, void *arg)
{
    LateVisit *lv = (LateVisit *)arg;
    if (lv->err || o == NULL || o == lv->loop || PyUnicode_Check(o) || PyDict_Check(o) || PyType_Check(o)
        || PyContext_CheckExact(o))
        return 0;
    if (PyList_CheckExact(o)) { /* the other callbacks: (callback, context) pairs */
        if (ready_pairs(o, lv->due) < 0)
            lv->err = 1;
        return 0;
    }
    PyObject *who = owner_of(o);
    if (who == NULL || ready_if_task(who, lv->due) < 0)
        lv->err = 1;
    Py_XDECREF(who);
    return 0;
}

static int
note_late_timer(PyObject *handle, PyObject *owner, int64_t due, int fast)
{
    PyObject *args = NULL, *cbs = NULL;
    int r = ready_if_task(owner, due);
    if (r < 0)
        goto fail;
    args = slot(handle, off_args, s_args, fast);
    if (args == NULL)
        goto fail;
    if (PyTuple_Check(args)) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++) {
            PyObject *a = PyTuple_GET_ITEM(args, i), *cb_list = NULL;
            if (d_fut_state.tp != NULL && Py_IS_TYPE(a, d_fut_state.tp) && Py_TYPE(a)->tp_traverse != NULL) {
                PyObject *state = d_fut_state.get(a, d_fut_state.closure);
                if (state == NULL)
                    goto fail;
                int pending = PyObject_RichCompareBool(state, s_pending, Py_EQ);
                Py_DECREF(state);
                if (pending < 0)
                    goto fail;
                if (pending) { /* (a done future has no callbacks left) */
                    LateVisit lv = {due, cur_loop, 0};
                    Py_TYPE(a)->tp_traverse(a, late_visit, &lv);
                    if (lv.err)
                        goto fail;
                }
                continue;
            }
#if PY_VERSION_HEX >= 0x030D0000
            if (PyObject_GetOptionalAttr(a, s_callbacks, &cb_list) < 0)
#else
            if (_PyObject_LookupAttr(a, s_callbacks, &cb_list) < 0)
#endif
                goto fail;
            if (cb_list == NULL)
                continue;
            cbs = PySequence_Fast(cb_list, "");
            Py_DECREF(cb_list);
            if (cbs == NULL) {
                PyErr_Clear(); /* not a sequence (None: no callbacks) */
                continue;
            }
            if (ready_pairs(cbs, due) < 0)
                goto fail;
            Py_CLEAR(cbs);
        }
    }
    Py_DECREF(args);
    return 0;
fail:
    Py_XDECREF(args);
    Py_XDECREF(cbs);
    if (PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* current_task(loop) as `fn` answers it (new reference; NULL with an exception set) */
static PyObject *
current_task_of(PyObject *fn, PyObject *loop)
{
    if (fn == ct_fn && ct_dict != NULL) {
        PyObject *t = PyDict_GetItemWithError(ct_dict, loop); /* borrowed */
        if (t == NULL) {
            if (PyErr_Occurred())
                return NULL;
            t = Py_None;
        }
        Py_INCREF(t);
        return t;
    }
    return PyObject_CallOneArg(fn, loop);
}

/* ------------------------------------------------------- the running step, for the watchdog */
/* The step running now (its start; 0: none) and how many steps began: written by the step on
 * the loop's thread, read by the watchdog's wait (watch_wait) without the GIL. */
#if defined(__GNUC__) || defined(__clang__)
#define ATOMIC_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ATOMIC_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#else
#define ATOMIC_LOAD(p) (*(volatile int64_t *)(p))
#define ATOMIC_STORE(p, v) (*(volatile int64_t *)(p) = (v))
#endif
static int64_t busy_t0 = 0, busy_n = 0;
/* The loop's select: until when it may wait (0: not in select; INT64_MAX: no timeout), written
 * by SelectCall; and whether the watchdog waits for such a moment to drain (drain_wanted): a
 * drain then costs the loop's thread nothing (it does not want the GIL), where one in the
 * middle of a burst of steps makes it wait for the GIL (bench/tracer_overhead.py (b)). */
static int64_t sel_until = 0, drain_wanted = 0;
#define IDLE_MIN_NS 2000000LL /* a select that may wait this long is a moment to drain in */
static void watch_kick(void);

static inline int64_t
busy_begin(int64_t t0)
{
    int64_t before = ATOMIC_LOAD(&busy_t0); /* a step inside a step (a nested run): its outer one */
    ATOMIC_STORE(&busy_n, ATOMIC_LOAD(&busy_n) + 1);
    ATOMIC_STORE(&busy_t0, t0);
    return before;
}

static inline void
busy_end(int64_t before)
{
    ATOMIC_STORE(&busy_t0, before);
}

/* ---------------------------------------------------------------------------- the step */
static PyObject *
step(PyObject *self, int timer)
{
    int fast = Py_IS_TYPE(self, handle_type) || Py_IS_TYPE(self, timer_type);
    PyObject *loop = slot(self, off_loop, s_loop, fast);
    if (loop == NULL)
        return NULL;
    Py_DECREF(loop); /* compared by identity only */
    if (loop != cur_loop || cur_loop == NULL)
        return PyObject_CallOneArg(orig_run, self);

    PyObject *cb = NULL, *args = NULL, *ctx = NULL, *owner = NULL, *res = NULL;
    cb = slot(self, off_callback, s_callback, fast);
    if (cb == NULL)
        goto error;
    owner = owner_of(cb);
    if (owner == NULL)
        goto error;
    int64_t t0 = step_ns();
    if (timer) {
        PyObject *when = slot(self, off_when, s_when, fast);
        if (when == NULL)
            goto error;
        double w = PyFloat_AsDouble(when);
        Py_DECREF(when);
        if (w == -1.0 && PyErr_Occurred())
            goto error;
        w *= 1e9;
        if (w > -9.2e18 && w < 9.2e18) {
            int64_t due = (int64_t)w; /* int(): towards zero */
            if (t0 - due > late_ns && cur_ready != NULL) {
                if (note_late_timer(self, owner, due, fast) < 0)
                    goto error;
            }
            else if (t0 - due > late_ns && note_late != NULL) {
                PyObject *due_o = PyLong_FromLongLong(due);
                if (due_o == NULL)
                    goto error;
                PyObject *r = PyObject_CallFunctionObjArgs(note_late, self, due_o, NULL);
                Py_DECREF(due_o);
                if (r == NULL)
                    goto error;
                Py_DECREF(r);
            }
        }
    }
    ctx = slot(self, off_context, s_context, fast);
    if (ctx == NULL)
        goto error;
    args = slot(self, off_args, s_args, fast);
    if (args == NULL)
        goto error;

    int64_t busy_before = busy_begin(t0);
    res = run_in_context(ctx, cb, args);
    busy_end(busy_before);
    if (res == NULL) {
        if (PyErr_ExceptionMatches(PyExc_SystemExit) || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt))
            goto error; /* passed through, unrecorded, as the Python hook does */
        PyObject *exc = take_exception();
        PyObject *r = PyObject_CallFunctionObjArgs(report_fn, self, exc ? exc : Py_None, NULL);
        Py_XDECREF(exc);
        if (r == NULL)
            goto error;
        Py_DECREF(r);
    }
    else {
        Py_DECREF(res);
    }
    int64_t t1 = step_ns();
    /* MORE COLUMNS: compute a further per-step value here (the step has run; ``owner`` is
     * held), then write it after the owner's id below and bump STEP_COLS. */
    Steps *st = cur_steps; /* read after the step: it may have ended the recording */
    if (st != NULL) {
        if (steps_reserve(st, STEP_COLS) < 0)
            goto error;
        int64_t *p = st->data + st->len;
        p[0] = t0;
        p[1] = t1;
        p[2] = (int64_t)(uintptr_t)owner; /* id(owner) */
        st->len += STEP_COLS;
    }
    /* its last step? (the C Task: the common case, no lookup) */
    int is_task;
    if ((PyObject *)Py_TYPE(owner) == task_type) {
        is_task = 1;
    }
    else if (owner == Py_None) { /* a plain callback (_TASKISH: NoneType is no task) */
        is_task = 0;
    }
    else {
        PyObject *known = PyDict_GetItemWithError(taskish, (PyObject *)Py_TYPE(owner));
        if (known != NULL) {
            is_task = PyObject_IsTrue(known);
        }
        else {
            if (PyErr_Occurred())
                goto error;
            PyObject *r = PyObject_CallOneArg(learn_fn, owner);
            if (r == NULL)
                goto error;
            is_task = PyObject_IsTrue(r);
            Py_DECREF(r);
        }
        if (is_task < 0)
            goto error;
    }
    if (is_task) {
        PyObject *state = get_attr(owner, &d_state, s_state);
        if (state == NULL)
            goto error;
        int pending = PyObject_RichCompareBool(state, s_pending, Py_EQ);
        if (pending == 0 && note_finished(owner, state, t1) < 0)
            pending = -1;
        else if (pending == 1 && note_waiting(owner, t1) < 0)
            pending = -1;
        Py_DECREF(state);
        if (pending < 0)
            goto error;
    }
    Py_DECREF(cb);
    Py_DECREF(args);
    Py_DECREF(ctx);
    Py_DECREF(owner);
    Py_RETURN_NONE;
error:
    Py_XDECREF(cb);
    Py_XDECREF(args);
    Py_XDECREF(ctx);
    Py_XDECREF(owner);
    return NULL;
}

/* ------------------------------------------------------- the hook: a method descriptor */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    int timer;
} Hook;

static PyObject *
hook_vectorcall(PyObject *h, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    if (n != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "_run() takes exactly one argument (the handle)");
        return NULL;
    }
    return step(args[0], ((Hook *)h)->timer);
}

static PyObject *
hook_descr_get(PyObject *h, PyObject *obj, PyObject *Py_UNUSED(type))
{
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(h);
        return h;
    }
    return PyMethod_New(h, obj);
}

static PyObject *
hook_name(Hook *h, void *Py_UNUSED(c)) { return PyUnicode_FromString("_run"); }

static PyObject *
hook_qualname(Hook *h, void *Py_UNUSED(c))
{
    return PyUnicode_FromString(h->timer ? "TimerHandle._run" : "Handle._run");
}

static PyGetSetDef hook_getset[] = {
    {"__name__", (getter)hook_name, NULL, NULL, NULL},
    {"__qualname__", (getter)hook_qualname, NULL, NULL, NULL},
    {NULL}
};

static PyTypeObject Hook_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coffeeshop_tui.scenarios._fastpath.Hook",
    .tp_basicsize = sizeof(Hook),
    .tp_dealloc = (destructor)PyObject_Del,
    .tp_vectorcall_offset = offsetof(Hook, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "The recorder's compiled Handle._run (see recorder_hooks.traced_run).",
    .tp_descr_get = hook_descr_get,
    .tp_getset = hook_getset,
};

/* ------------------------------------------- loop.create_task, wrapped (Recorder._make_create_task) */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *loop, *orig, *infos, *names, *eager, *strip, *current_task;
    Steps *meta;
    int eager_possible;
} CreateTask;

/* The wrappers below (CreateTask, CallAt, CancelNote, SelectCall) are GC-tracked callables
 * that answer __name__ / __qualname__ as what they stand for: one dealloc (their tp_clear) and
 * one way to name them. */
static void
gc_dealloc(PyObject *o)
{
    PyObject_GC_UnTrack(o);
    Py_TYPE(o)->tp_clear(o);
    PyObject_GC_Del(o);
}

#define NAMED_AS(prefix, text)                                                                  \
    static PyObject *prefix##_name(PyObject *o, void *Py_UNUSED(c)) { return PyUnicode_FromString(text); } \
    static PyGetSetDef prefix##_getset[] = {                                                    \
        {"__name__", (getter)prefix##_name, NULL, NULL, NULL},                                  \
        {"__qualname__", (getter)prefix##_name, NULL, NULL, NULL},                              \
        {NULL}};

static PyTypeObject CreateTask_Type;

/* Notes the new task: creation time, parent, code object (or type name), name; an eager
 * first step (3.12+) and a task that finished in it. Same as the Python wrapper. */
static PyObject *
ct_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    CreateTask *ct = (CreateTask *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (cur_loop != ct->loop) /* uninstalled, or replaced by another recording */
        return PyObject_Vectorcall(ct->orig, args, nargs, kwnames);
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError, "create_task() takes 1 positional argument but %zd were given", nargs);
        return NULL;
    }
    PyObject *coro = args[0];
    int64_t t = step_ns();
    PyObject *parent = current_task_of(ct->current_task, ct->loop);
    if (parent == NULL)
        return NULL;
    PyObject *task = PyObject_Vectorcall(ct->orig, args, nargs, kwnames);
    if (task == NULL) {
        Py_DECREF(parent);
        return NULL;
    }
    PyObject *tb = NULL, *name = NULL, *info = NULL;
    tb = PyObject_GetAttr(task, s_source_tb);
    if (tb != NULL)
        name = PyObject_CallMethodNoArgs(task, s_get_name);
    if (tb == NULL || name == NULL) { /* a task factory's own kind of future */
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            Py_XDECREF(tb);
            Py_DECREF(parent);
            return task;
        }
        goto error;
    }
    int truth = PyObject_IsTrue(tb);
    if (truth < 0)
        goto error;
    if (truth) { /* debug mode: "created at" must not point into the recorder */
        PyObject *r = PyObject_CallOneArg(ct->strip, tb);
        if (r == NULL)
            goto error;
        Py_DECREF(r);
    }
    int64_t eager_end = 0;
    info = PyObject_GetAttr(coro, s_cr_code);
    if (info != NULL && ct->eager_possible) {
        /* Eager tasks (3.12+) ran their first step inside this call: note when it ended. */
        PyObject *susp = PyObject_GetAttr(coro, s_cr_suspended);
        int eager = -1;
        if (susp != NULL) {
            eager = PyObject_IsTrue(susp);
            Py_DECREF(susp);
            if (eager == 0) {
                PyObject *fr = PyObject_GetAttr(coro, s_cr_frame);
                if (fr == NULL)
                    eager = -1;
                else {
                    eager = fr == Py_None;
                    Py_DECREF(fr);
                }
            }
        }
        if (eager < 0)
            Py_CLEAR(info);
        else if (eager)
            eager_end = step_ns();
    }
    if (info == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            goto error;
        PyErr_Clear(); /* not a native coroutine */
        info = PyObject_GetAttr((PyObject *)Py_TYPE(coro), s_name);
        if (info == NULL)
            goto error;
    }
    if (PyList_Append(ct->infos, info) < 0 || PyList_Append(ct->names, name) < 0
        || steps_push3(ct->meta, t, parent != Py_None ? (int64_t)(uintptr_t)parent : 0,
                       (int64_t)(uintptr_t)task) < 0)
        goto error;
    if (eager_end) {
        PyObject *item = Py_BuildValue("(LLL)", (long long)(uintptr_t)task, (long long)t, (long long)eager_end);
        if (item == NULL)
            goto error;
        int r = PyList_Append(ct->eager, item);
        Py_DECREF(item);
        if (r < 0)
            goto error;
        PyObject *d = PyObject_CallMethodNoArgs(task, s_done);
        if (d == NULL)
            goto error;
        int done = PyObject_IsTrue(d);
        Py_DECREF(d);
        if (done < 0)
            goto error;
        if (done) { /* finished in its eager first step */
            PyObject *end = PyLong_FromLongLong(eager_end);
            if (end == NULL)
                goto error;
            PyObject *r2 = PyObject_CallFunctionObjArgs(finished_fn, task, end, NULL);
            Py_DECREF(end);
            if (r2 == NULL)
                goto error;
            Py_DECREF(r2);
        }
        else if (note_waiting(task, eager_end) < 0) { /* it awaits something: note what */
            goto error;
        }
    }
    Py_DECREF(tb);
    Py_DECREF(name);
    Py_DECREF(info);
    Py_DECREF(parent);
    return task;
error:
    Py_XDECREF(tb);
    Py_XDECREF(name);
    Py_XDECREF(info);
    Py_DECREF(parent);
    Py_DECREF(task);
    return NULL;
}

static PyObject *
ct_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *loop, *orig, *infos, *names, *meta, *eager, *strip, *cur;
    int eager_possible;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "CreateTask() takes positional arguments only");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OOO!O!O!O!OOp:CreateTask", &loop, &orig, &PyList_Type, &infos,
                          &PyList_Type, &names, &Steps_Type, &meta, &PyList_Type, &eager, &strip,
                          &cur, &eager_possible))
        return NULL;
    if (((Steps *)meta)->cols != 3) {
        PyErr_SetString(PyExc_ValueError, "CreateTask(): meta must have 3 columns");
        return NULL;
    }
    CreateTask *ct = PyObject_GC_New(CreateTask, type);
    if (ct == NULL)
        return NULL;
    ct->vectorcall = ct_vectorcall;
#define SET(f, v) Py_INCREF(v); ct->f = v
    SET(loop, loop); SET(orig, orig); SET(infos, infos); SET(names, names); SET(eager, eager);
    SET(strip, strip); SET(current_task, cur);
#undef SET
    Py_INCREF(meta);
    ct->meta = (Steps *)meta;
    ct->eager_possible = eager_possible;
    PyObject_GC_Track(ct);
    return (PyObject *)ct;
}

static int
ct_traverse(CreateTask *ct, visitproc visit, void *arg)
{
    Py_VISIT(ct->loop); Py_VISIT(ct->orig); Py_VISIT(ct->infos); Py_VISIT(ct->names);
    Py_VISIT(ct->eager); Py_VISIT(ct->strip); Py_VISIT(ct->current_task); Py_VISIT(ct->meta);
    return 0;
}

static int
ct_clear(CreateTask *ct)
{
    Py_CLEAR(ct->loop); Py_CLEAR(ct->orig); Py_CLEAR(ct->infos); Py_CLEAR(ct->names);
    Py_CLEAR(ct->eager); Py_CLEAR(ct->strip); Py_CLEAR(ct->current_task); Py_CLEAR(ct->meta);
    return 0;
}

NAMED_AS(ct, "create_task")

static PyTypeObject CreateTask_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coffeeshop_tui.scenarios._fastpath.CreateTask",
    .tp_basicsize = sizeof(CreateTask),
    .tp_dealloc = gc_dealloc,
    .tp_vectorcall_offset = offsetof(CreateTask, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "CreateTask(loop, orig, infos, names, meta, eager, strip, current_task, eager_possible):\n"
              "the recorder's loop.create_task (see Recorder._make_create_task).",
    .tp_traverse = (traverseproc)ct_traverse,
    .tp_clear = (inquiry)ct_clear,
    .tp_getset = ct_getset,
    .tp_new = ct_new,
};

/* ------------------------------------------- loop.call_at, wrapped (loop_queue.install) */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *rec, *loop, *orig, *labels, *strip, *current_task, *label_of;
    Steps *timers; /* created_ns, id(timer), id(creating task), due (ns): 4 columns */
} CallAt;

static PyTypeObject CallAt_Type;
static PyObject *s_qualname;

/* What loop_queue's Python call_at wrapper notes of each timer, same rules: the timer is
 * made by asyncio's call_at, then (if this recording is still the active one) noted;
 * a failure to note it never reaches the program. */
static PyObject *
ca_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    CallAt *ca = (CallAt *)op;
    PyObject *timer = PyObject_Vectorcall(ca->orig, args, nargsf, kwnames);
    if (timer == NULL || cur_rec != ca->rec) /* (recorder_hooks._active: another recording, or none) */
        return timer;
    PyObject *exc_type, *exc_value, *exc_tb;
    PyErr_Fetch(&exc_type, &exc_value, &exc_tb); /* (none: kept as it is) */
    int fast = Py_IS_TYPE(timer, timer_type); /* asyncio's own TimerHandle: its slots read directly */
    PyObject *tb = slot(timer, off_source_tb, s_source_tb, fast);
    if (tb == NULL)
        PyErr_Clear();
    else {
        int truth = tb == Py_None ? 0 : PyObject_IsTrue(tb);
        if (truth > 0) {
            PyObject *r = PyObject_CallOneArg(ca->strip, tb);
            Py_XDECREF(r);
        }
        Py_DECREF(tb);
        PyErr_Clear();
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *callback = nargs >= 2 ? args[1] : NULL;
    for (Py_ssize_t k = 0; callback == NULL && kwnames != NULL && k < PyTuple_GET_SIZE(kwnames); k++)
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, k), "callback") == 0)
            callback = args[nargs + k];
    PyObject *label = NULL;
    if (callback != NULL && PyFunction_Check(callback)) { /* its __qualname__, without the lookup */
        PyObject *q = ((PyFunctionObject *)callback)->func_qualname;
        if (q != NULL && PyUnicode_Check(q) && PyUnicode_GET_LENGTH(q) > 0) {
            Py_INCREF(q);
            label = q;
        }
    }
    if (callback != NULL && label == NULL) {
        label = PyObject_GetAttr(callback, s_qualname);
        if (label == NULL)
            PyErr_Clear();
        if (label == NULL || PyObject_IsTrue(label) <= 0) {
            PyErr_Clear();
            Py_XDECREF(label);
            label = PyObject_CallOneArg(ca->label_of, callback);
        }
    }
    int64_t t = step_ns();
    PyObject *task = label ? current_task_of(ca->current_task, ca->loop) : NULL;
    PyObject *when = task ? slot(timer, off_when, s_when, fast) : NULL;
    double w = when ? PyFloat_AsDouble(when) : -1.0;
    if (when != NULL && !(w == -1.0 && PyErr_Occurred())
        && steps_reserve(ca->timers, 4) == 0 && PyList_Append(ca->labels, label) == 0) {
        int64_t *p = ca->timers->data + ca->timers->len;
        p[0] = t;
        p[1] = (int64_t)(uintptr_t)timer;
        p[2] = task == Py_None ? (int64_t)(uintptr_t)Py_None : (int64_t)(uintptr_t)task;
        p[3] = (int64_t)(w * 1e9);
        ca->timers->len += 4;
    }
    PyErr_Clear(); /* never disturb the program */
    Py_XDECREF(when);
    Py_XDECREF(task);
    Py_XDECREF(label);
    PyErr_Restore(exc_type, exc_value, exc_tb);
    return timer;
}

static PyObject *
ca_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *rec, *loop, *orig, *timers, *labels, *strip, *cur, *label_of;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "CallAt() takes positional arguments only");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OOOO!O!OOO:CallAt", &rec, &loop, &orig, &Steps_Type, &timers,
                          &PyList_Type, &labels, &strip, &cur, &label_of))
        return NULL;
    if (((Steps *)timers)->cols != 4) {
        PyErr_SetString(PyExc_ValueError, "CallAt(): timers must have 4 columns");
        return NULL;
    }
    CallAt *ca = PyObject_GC_New(CallAt, type);
    if (ca == NULL)
        return NULL;
    ca->vectorcall = ca_vectorcall;
#define SET(f, v) Py_INCREF(v); ca->f = v
    SET(rec, rec); SET(loop, loop); SET(orig, orig); SET(labels, labels); SET(strip, strip);
    SET(current_task, cur); SET(label_of, label_of);
#undef SET
    Py_INCREF(timers);
    ca->timers = (Steps *)timers;
    PyObject_GC_Track(ca);
    return (PyObject *)ca;
}

static int
ca_traverse(CallAt *ca, visitproc visit, void *arg)
{
    Py_VISIT(ca->rec); Py_VISIT(ca->loop); Py_VISIT(ca->orig); Py_VISIT(ca->labels); Py_VISIT(ca->strip);
    Py_VISIT(ca->current_task); Py_VISIT(ca->label_of); Py_VISIT(ca->timers);
    return 0;
}

static int
ca_clear(CallAt *ca)
{
    Py_CLEAR(ca->rec); Py_CLEAR(ca->loop); Py_CLEAR(ca->orig); Py_CLEAR(ca->labels); Py_CLEAR(ca->strip);
    Py_CLEAR(ca->current_task); Py_CLEAR(ca->label_of); Py_CLEAR(ca->timers);
    return 0;
}

NAMED_AS(ca, "call_at")

static PyTypeObject CallAt_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coffeeshop_tui.scenarios._fastpath.CallAt",
    .tp_basicsize = sizeof(CallAt),
    .tp_dealloc = gc_dealloc,
    .tp_vectorcall_offset = offsetof(CallAt, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "CallAt(rec, loop, orig, timers, labels, strip, current_task, label_of):\n"
              "loop_queue's loop.call_at (see loop_queue.install).",
    .tp_traverse = (traverseproc)ca_traverse,
    .tp_clear = (inquiry)ca_clear,
    .tp_getset = ca_getset,
    .tp_new = ca_new,
};

/* ------------------------- loop._timer_handle_cancelled, wrapped (loop_queue.install) */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *rec, *orig;
    Steps *cancels; /* t_ns, id(TimerHandle), due (ns): 3 columns */
} CancelNote;

static PyTypeObject CancelNote_Type;
static PyObject *s_scheduled;

/* What loop_queue's Python _timer_handle_cancelled wrapper notes, same rules: a timer
 * cancelled while still in the heap (``handle._scheduled``), while this recording is the
 * active one; then asyncio's own. A failure to note never reaches the program. */
static PyObject *
cn_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    CancelNote *cn = (CancelNote *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 1 && kwnames == NULL) {
        PyObject *handle = args[0];
        if (cur_rec == cn->rec) { /* (recorder_hooks._active) */
            /* (asyncio.sleep cancels its timer after it ran: not scheduled, the common case) */
            int fast = Py_IS_TYPE(handle, timer_type);
            PyObject *sch = slot(handle, off_scheduled, s_scheduled, fast);
            int yes = sch == Py_True ? 1 : sch == Py_False ? 0 : sch != NULL ? PyObject_IsTrue(sch) : -1;
            Py_XDECREF(sch);
            int64_t t = yes > 0 ? step_ns() : 0;
            PyObject *when = yes > 0 ? slot(handle, off_when, s_when, fast) : NULL;
            double w = when != NULL ? PyFloat_AsDouble(when) : -1.0;
            Py_XDECREF(when);
            if (when != NULL && !(w == -1.0 && PyErr_Occurred()) && w > -9.2e9 && w < 9.2e9)
                steps_push3(cn->cancels, t, (int64_t)(uintptr_t)handle, (int64_t)(w * 1e9));
        }
        PyErr_Clear(); /* never disturb the program */
    }
    return PyObject_Vectorcall(cn->orig, args, nargsf, kwnames);
}

static PyObject *
cn_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *rec, *orig, *cancels;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "CancelNote() takes positional arguments only");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OOO!:CancelNote", &rec, &orig, &Steps_Type, &cancels))
        return NULL;
    if (((Steps *)cancels)->cols != 3) {
        PyErr_SetString(PyExc_ValueError, "CancelNote(): cancels must have 3 columns");
        return NULL;
    }
    CancelNote *cn = PyObject_GC_New(CancelNote, type);
    if (cn == NULL)
        return NULL;
    cn->vectorcall = cn_vectorcall;
    Py_INCREF(rec);
    cn->rec = rec;
    Py_INCREF(orig);
    cn->orig = orig;
    Py_INCREF(cancels);
    cn->cancels = (Steps *)cancels;
    PyObject_GC_Track(cn);
    return (PyObject *)cn;
}

static int
cn_traverse(CancelNote *cn, visitproc visit, void *arg)
{
    Py_VISIT(cn->rec); Py_VISIT(cn->orig); Py_VISIT(cn->cancels);
    return 0;
}

static int
cn_clear(CancelNote *cn)
{
    Py_CLEAR(cn->rec); Py_CLEAR(cn->orig); Py_CLEAR(cn->cancels);
    return 0;
}

NAMED_AS(cn, "_timer_handle_cancelled")

static PyTypeObject CancelNote_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coffeeshop_tui.scenarios._fastpath.CancelNote",
    .tp_basicsize = sizeof(CancelNote),
    .tp_dealloc = gc_dealloc,
    .tp_vectorcall_offset = offsetof(CancelNote, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "CancelNote(rec, orig, cancels): loop_queue's loop._timer_handle_cancelled "
              "(see loop_queue.install).",
    .tp_traverse = (traverseproc)cn_traverse,
    .tp_clear = (inquiry)cn_clear,
    .tp_getset = cn_getset,
    .tp_new = cn_new,
};

/* ------------------------------------- the loop's selector.select, wrapped (SelectorProbe) */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *inner;    /* the selector wrapped: its select is looked up at each call, as Python does */
    PyObject *flag;     /* a bytearray(1): 1 while the loop's thread is in select (Recorder._in_select) */
    Steps *iters;       /* (start, end) of each select: 2 columns */
    Steps *selects;     /* or NULL: (end, timeout ns or -1, ready handles before, events): 4 columns */
    PyObject *io;       /* or NULL: a list of (end, [fd, mask, ...]) of the selects that had events */
    PyObject *ready;    /* or NULL: the loop's ready deque */
} SelectCall;

static PyTypeObject SelectCall_Type;
static PyObject *s_select;

/* What recorder_hooks.SelectorProbe.select and loop_queue.QueueSelector.select note, in one
 * call and no Python frame: a loop iteration costs ~1 us less (measured: a task that
 * awaits sleep(0) in a loop, 1.8 us an iteration unrecorded). Never disturbs the select:
 * its exception passes through as it is; a failure to note notes less. */
static PyObject *
sc_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    SelectCall *sc = (SelectCall *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *timeout = nargs >= 1 ? args[0] : Py_None;
    for (Py_ssize_t k = 0; nargs == 0 && kwnames != NULL && k < PyTuple_GET_SIZE(kwnames); k++)
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, k), "timeout") == 0)
            timeout = args[nargs + k];
    Py_ssize_t n_ready = sc->ready != NULL ? PyObject_Length(sc->ready) : 0;
    if (n_ready < 0) {
        PyErr_Clear();
        n_ready = 0;
    }
    char *flag = PyByteArray_Check(sc->flag) && PyByteArray_GET_SIZE(sc->flag) >= 1
        ? PyByteArray_AS_STRING(sc->flag) : NULL;
    if (flag != NULL)
        flag[0] = 1;
    int64_t t0 = step_ns();
    int64_t tns = -1; /* the timeout in ns (-1: none; INT64_MAX: beyond 9.2e9 s) */
    if (timeout != Py_None) {
        double w = PyFloat_AsDouble(timeout);
        if (w == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            w = 0;
        }
        tns = w <= 0 ? 0 : w > 9.2e9 ? INT64_MAX : (int64_t)(w * 1e9);
    }
    int64_t until = tns < 0 || tns == INT64_MAX ? INT64_MAX : t0 + tns;
    ATOMIC_STORE(&sel_until, until);
    if (ATOMIC_LOAD(&drain_wanted) && until - t0 >= IDLE_MIN_NS)
        watch_kick(); /* the drain it waits for can be now */
    PyObject *ev;
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs + nkw <= 3) { /* selector.select(*args, **kw): no bound method made, as Python's LOAD_METHOD */
        PyObject *stack[4] = {sc->inner, NULL, NULL, NULL};
        for (Py_ssize_t k = 0; k < nargs + nkw; k++)
            stack[k + 1] = args[k];
        ev = PyObject_VectorcallMethod(s_select, stack, (size_t)(nargs + 1), kwnames);
    }
    else {
        PyObject *sel = PyObject_GetAttr(sc->inner, s_select);
        ev = sel != NULL ? PyObject_Vectorcall(sel, args, nargsf, kwnames) : NULL;
        Py_XDECREF(sel);
    }
    ATOMIC_STORE(&sel_until, 0);
    int64_t t1 = step_ns();
    if (flag != NULL)
        flag[0] = 0;
    PyObject *exc_type, *exc_value, *exc_tb;
    PyErr_Fetch(&exc_type, &exc_value, &exc_tb); /* the select's own exception, kept as it is */
    if (steps_reserve(sc->iters, 2) == 0) {
        sc->iters->data[sc->iters->len] = t0;
        sc->iters->data[sc->iters->len + 1] = t1;
        sc->iters->len += 2;
    }
    if (ev != NULL && sc->selects != NULL) {
        Py_ssize_t n_ev = PyList_CheckExact(ev) ? PyList_GET_SIZE(ev) : PyObject_Length(ev);
        if (n_ev < 0)
            n_ev = 0;
        PyErr_Clear();
        if (steps_reserve(sc->selects, 4) == 0) {
            int64_t *p = sc->selects->data + sc->selects->len;
            p[0] = t1;
            p[1] = tns;
            p[2] = n_ready;
            p[3] = n_ev;
            sc->selects->len += 4;
        }
        if (n_ev > 0 && sc->io != NULL && PyList_CheckExact(ev)) {
            PyObject *fds = PyList_New(0);
            for (Py_ssize_t i = 0; fds != NULL && i < n_ev; i++) {
                PyObject *item = PyList_GET_ITEM(ev, i); /* (key, mask) */
                if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2)
                    continue;
                PyObject *key = PyTuple_GET_ITEM(item, 0), *fd;
                if (PyTuple_Check(key) && PyTuple_GET_SIZE(key) >= 2) { /* a SelectorKey */
                    fd = PyTuple_GET_ITEM(key, 1);
                    Py_INCREF(fd);
                }
                else
                    fd = PyObject_GetAttrString(key, "fd");
                if (fd == NULL || PyList_Append(fds, fd) < 0 || PyList_Append(fds, PyTuple_GET_ITEM(item, 1)) < 0)
                    Py_CLEAR(fds);
                Py_XDECREF(fd);
            }
            PyObject *row = fds != NULL ? Py_BuildValue("(LN)", (long long)t1, fds) : NULL;
            if (row != NULL)
                PyList_Append(sc->io, row);
            Py_XDECREF(row);
        }
        PyErr_Clear(); /* never disturb the program */
    }
    PyErr_Restore(exc_type, exc_value, exc_tb);
    return ev;
}

static PyObject *
sc_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *inner, *flag, *iters, *selects, *io, *ready;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "SelectCall() takes positional arguments only");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OO!O!OOO:SelectCall", &inner, &PyByteArray_Type, &flag, &Steps_Type, &iters,
                          &selects, &io, &ready))
        return NULL;
    if (((Steps *)iters)->cols != 2 || (selects != Py_None && (!Py_IS_TYPE(selects, &Steps_Type)
                                                               || ((Steps *)selects)->cols != 4))
        || (io != Py_None && !PyList_Check(io))) {
        PyErr_SetString(PyExc_ValueError, "SelectCall(): iters Steps(2), selects Steps(4) or None, io a list or None");
        return NULL;
    }
    SelectCall *sc = PyObject_GC_New(SelectCall, type);
    if (sc == NULL)
        return NULL;
    sc->vectorcall = sc_vectorcall;
    Py_INCREF(inner);
    sc->inner = inner;
    Py_INCREF(flag);
    sc->flag = flag;
    Py_INCREF(iters);
    sc->iters = (Steps *)iters;
    sc->selects = selects != Py_None ? (Steps *)Py_NewRef(selects) : NULL;
    sc->io = io != Py_None ? Py_NewRef(io) : NULL;
    sc->ready = ready != Py_None ? Py_NewRef(ready) : NULL;
    PyObject_GC_Track(sc);
    return (PyObject *)sc;
}

static int
sc_traverse(SelectCall *sc, visitproc visit, void *arg)
{
    Py_VISIT(sc->inner); Py_VISIT(sc->flag); Py_VISIT(sc->iters); Py_VISIT(sc->selects);
    Py_VISIT(sc->io); Py_VISIT(sc->ready);
    return 0;
}

static int
sc_clear(SelectCall *sc)
{
    Py_CLEAR(sc->inner); Py_CLEAR(sc->flag); Py_CLEAR(sc->iters); Py_CLEAR(sc->selects);
    Py_CLEAR(sc->io); Py_CLEAR(sc->ready);
    return 0;
}

NAMED_AS(sc, "select")

static PyTypeObject SelectCall_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "coffeeshop_tui.scenarios._fastpath.SelectCall",
    .tp_basicsize = sizeof(SelectCall),
    .tp_dealloc = gc_dealloc,
    .tp_vectorcall_offset = offsetof(SelectCall, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "SelectCall(selector, flag, iters, selects, io, ready): the recorder's loop._selector.select "
              "(see recorder_hooks.SelectorProbe).",
    .tp_traverse = (traverseproc)sc_traverse,
    .tp_clear = (inquiry)sc_clear,
    .tp_getset = sc_getset,
    .tp_new = sc_new,
};

/* ------------------------------------------------------- the parent's side: resolving steps */
/* resolve_steps(data, cols, single, hist, live, resolve) -> [t0, t1, seq, ...]: the per-step
 * loop of resolver.Resolver.resolve, same rules (``single``: raw id -> the one history entry
 * [seq, created, done|None, _, _, last_end, _]; otherwise ``resolve(raw, t0)`` if the raw id is
 * in ``hist``; a step's task gets last_end = max(last_end, t1)). ``data``: native int64, `cols`
 * a step, start, end and raw owner id first. */
static int
bump_end(PyObject *entry, int64_t t1)
{
    if (!PyList_Check(entry) || PyList_GET_SIZE(entry) < 6)
        return 0;
    long long last = PyLong_AsLongLong(PyList_GET_ITEM(entry, 5));
    if (last == -1 && PyErr_Occurred())
        return -1;
    if (t1 > last) {
        PyObject *v = PyLong_FromLongLong(t1);
        if (v == NULL)
            return -1;
        return PyList_SetItem(entry, 5, v); /* steals v */
    }
    return 0;
}

static PyObject *
fp_resolve_steps(PyObject *mod, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t cols;
    PyObject *single, *hist, *live, *resolve;
    if (!PyArg_ParseTuple(args, "y*nO!O!O!O:resolve_steps", &buf, &cols, &PyDict_Type, &single,
                          &PyDict_Type, &hist, &PyDict_Type, &live, &resolve))
        return NULL;
    PyObject *out = NULL;
    if (cols < 3 || buf.len % (Py_ssize_t)(cols * sizeof(int64_t))) {
        PyErr_SetString(PyExc_ValueError, "resolve_steps(): not whole steps");
        goto done;
    }
    Py_ssize_t n = buf.len / (Py_ssize_t)(cols * sizeof(int64_t));
    const int64_t *d = (const int64_t *)buf.buf;
    out = PyList_New(3 * n);
    if (out == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++, d += cols) {
        int64_t t0 = d[0], t1 = d[1], rid = d[2], seq = 0;
        PyObject *key = PyLong_FromLongLong(rid);
        if (key == NULL)
            goto fail;
        PyObject *e = PyDict_GetItemWithError(single, key); /* borrowed */
        if (e == NULL && PyErr_Occurred()) {
            Py_DECREF(key);
            goto fail;
        }
        if (e == NULL) {
            int in = PyDict_Contains(hist, key);
            if (in < 0) {
                Py_DECREF(key);
                goto fail;
            }
            if (in) {
                PyObject *r = PyObject_CallFunction(resolve, "OL", key, (long long)t0);
                if (r == NULL) {
                    Py_DECREF(key);
                    goto fail;
                }
                seq = PyLong_AsLongLong(r);
                Py_DECREF(r);
                if (seq == -1 && PyErr_Occurred()) {
                    Py_DECREF(key);
                    goto fail;
                }
                if (seq) {
                    PyObject *sk = PyLong_FromLongLong(seq);
                    PyObject *entry = sk ? PyDict_GetItemWithError(live, sk) : NULL;
                    Py_XDECREF(sk);
                    if ((sk == NULL || (entry == NULL && PyErr_Occurred())) || (entry && bump_end(entry, t1) < 0)) {
                        Py_DECREF(key);
                        goto fail;
                    }
                }
            }
        }
        else if (PyList_Check(e) && PyList_GET_SIZE(e) >= 6) {
            long long created = PyLong_AsLongLong(PyList_GET_ITEM(e, 1));
            PyObject *done_o = PyList_GET_ITEM(e, 2);
            long long done_t = done_o == Py_None ? 0 : PyLong_AsLongLong(done_o);
            if (PyErr_Occurred()) {
                Py_DECREF(key);
                goto fail;
            }
            if (created <= t0 && (done_o == Py_None || t0 <= done_t)) {
                seq = PyLong_AsLongLong(PyList_GET_ITEM(e, 0));
                if ((seq == -1 && PyErr_Occurred()) || bump_end(e, t1) < 0) {
                    Py_DECREF(key);
                    goto fail;
                }
            }
        }
        Py_DECREF(key);
        PyObject *a = PyLong_FromLongLong(t0), *b = PyLong_FromLongLong(t1), *c = PyLong_FromLongLong(seq);
        if (a == NULL || b == NULL || c == NULL) {
            Py_XDECREF(a);
            Py_XDECREF(b);
            Py_XDECREF(c);
            goto fail;
        }
        PyList_SET_ITEM(out, 3 * i, a);
        PyList_SET_ITEM(out, 3 * i + 1, b);
        PyList_SET_ITEM(out, 3 * i + 2, c);
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyBuffer_Release(&buf);
    return out;
}

/* -------------------------------------------------------------------------- functions */
static Py_ssize_t
member_offset(PyTypeObject *tp, const char *name)
{
    PyObject *d = PyDict_GetItemString(tp->tp_dict, name); /* borrowed */
    if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type))
        return -1;
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    if (m->type != T_OBJECT_EX && m->type != T_OBJECT)
        return -1;
    return m->offset;
}

static void
replace(PyObject **slot_, PyObject *value)
{
    PyObject *old = *slot_;
    Py_XINCREF(value);
    *slot_ = value;
    Py_XDECREF(old);
}

/* The state above is the process's: only the main interpreter may set it (a subinterpreter
 * importing this module gets a copy of it, and uses the pure-Python recorder). */
static int
main_interpreter_only(void)
{
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        PyErr_SetString(PyExc_RuntimeError, "the compiled recorder runs in the main interpreter only");
        return -1;
    }
    return 0;
}

static PyObject *
fp_setup(PyObject *mod, PyObject *args)
{
    if (main_interpreter_only() < 0)
        return NULL;
    PyObject *orig, *rep, *fin, *learn, *tdict, *ttype, *htype, *ttimer, *hglobals = NULL;
    if (!PyArg_ParseTuple(args, "OOOOO!OO!O!|O!:setup", &orig, &rep, &fin, &learn, &PyDict_Type, &tdict,
                          &ttype, &PyType_Type, &htype, &PyType_Type, &ttimer, &PyDict_Type, &hglobals))
        return NULL;
    if (hglobals != NULL)
        replace(&hooks_globals, hglobals);
    replace(&orig_run, orig);
    replace(&report_fn, rep);
    replace(&finished_fn, fin);
    replace(&learn_fn, learn);
    replace(&taskish, tdict);
    replace(&task_type, ttype);
    replace((PyObject **)&handle_type, htype);
    replace((PyObject **)&timer_type, ttimer);
    off_loop = member_offset(handle_type, "_loop");
    off_callback = member_offset(handle_type, "_callback");
    off_args = member_offset(handle_type, "_args");
    off_context = member_offset(handle_type, "_context");
    off_when = member_offset(timer_type, "_when");
    off_source_tb = member_offset(handle_type, "_source_traceback");
    off_scheduled = member_offset(timer_type, "_scheduled");
    direct_init(&d_state, PyType_Check(task_type) ? (PyTypeObject *)task_type : NULL, "_state");
    direct_init(&d_fut_waiter, PyType_Check(task_type) ? (PyTypeObject *)task_type : NULL, "_fut_waiter");
    direct_init(&d_coro, PyType_Check(task_type) ? (PyTypeObject *)task_type : NULL, "_coro");
    direct_init(&d_cr_await, &PyCoro_Type, "cr_await");
    Py_RETURN_NONE;
}

static PyObject *
fp_target(PyObject *mod, PyObject *args)
{
    if (main_interpreter_only() < 0)
        return NULL;
    PyObject *loop, *steps, *late, *done = Py_None, *ready = Py_None, *wait_add = Py_None, *wait_why = Py_None;
    PyObject *rec = Py_None;
    long long lns = 2000000;
    if (!PyArg_ParseTuple(args, "OOO|LOOOOO:target", &loop, &steps, &late, &lns, &done, &ready,
                          &wait_add, &wait_why, &rec))
        return NULL;
    if ((done != Py_None && !PyList_CheckExact(done))
        || (ready != Py_None && !PyList_CheckExact(ready) && !Py_IS_TYPE(ready, &Steps_Type))
        || (wait_why != Py_None && !PyList_CheckExact(wait_why))
        || (Py_IS_TYPE(wait_add, &Steps_Type) && ((Steps *)wait_add)->cols != 2)) {
        PyErr_SetString(PyExc_TypeError, "target(): done and wait_why must be lists or None, ready also Steps(2), "
                        "wait_add a callable or Steps(2)");
        return NULL;
    }
    if (steps != Py_None && !Py_IS_TYPE(steps, &Steps_Type)) {
        PyErr_SetString(PyExc_TypeError, "target(): steps must be a Steps buffer or None");
        return NULL;
    }
    if (loop != Py_None && orig_run == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "target(): setup() was not called");
        return NULL;
    }
    replace(&cur_loop, loop == Py_None ? NULL : loop);
    replace(&cur_rec, rec == Py_None ? NULL : rec);
    replace((PyObject **)&cur_steps, steps == Py_None ? NULL : steps);
    replace(&note_late, late == Py_None ? NULL : late);
    replace(&cur_done, done == Py_None ? NULL : done);
    replace(&cur_ready, ready == Py_None ? NULL : ready);
    replace(&cur_wait_add, wait_add == Py_None ? NULL : wait_add);
    replace(&cur_wait_why, wait_why == Py_None ? NULL : wait_why);
    late_ns = lns;
    Py_RETURN_NONE;
}

/* set_waiting(fn): recorder_hooks._waiting is now `fn` (its sleep fast path only while it is
 * the one set_waits gave) */
static PyObject *
fp_set_waiting(PyObject *mod, PyObject *fn)
{
    replace(&cur_waiting, fn == Py_None ? NULL : fn);
    Py_RETURN_NONE;
}

/* set_waits(waiting, Future, sleep_code, reason): wait_reasons' sleep fast path (note_sleep),
 * used while recorder_hooks._waiting is still `waiting` (a benchmark may swap it). */
static PyObject *
fp_set_waits(PyObject *mod, PyObject *args)
{
    PyObject *fn, *ftype, *code, *reason;
    if (!PyArg_ParseTuple(args, "OOOO:set_waits", &fn, &ftype, &code, &reason))
        return NULL;
    replace(&waiting_fn, fn);
    replace(&cur_waiting, fn);
    replace(&future_type, ftype);
    direct_init(&d_fut_state, PyType_Check(ftype) ? (PyTypeObject *)ftype : NULL, "_state");
    replace(&sleep_code, code);
    replace(&sleep_reason, reason);
    Py_RETURN_NONE;
}

/* set_current_tasks(current_task, tasks_dict or None): current_task(loop) is tasks_dict.get(loop) */
static PyObject *
fp_set_current_tasks(PyObject *mod, PyObject *args)
{
    PyObject *fn, *d;
    if (!PyArg_ParseTuple(args, "OO:set_current_tasks", &fn, &d))
        return NULL;
    if (d != Py_None && !PyDict_CheckExact(d)) {
        PyErr_SetString(PyExc_TypeError, "set_current_tasks(): a dict or None");
        return NULL;
    }
    replace(&ct_fn, fn);
    replace(&ct_dict, d == Py_None ? NULL : d);
    Py_RETURN_NONE;
}

static PyObject *
fp_now_ns(PyObject *mod, PyObject *Py_UNUSED(ignored)) { return PyLong_FromLongLong(now_ns()); }

/* step_clock() -> (name, ns): the clock the steps are read with ("tsc" or "clock_gettime")
 * and its reading now (tests compare it with time.monotonic_ns) */
static PyObject *
fp_step_clock(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
#ifdef HAVE_TSC
    const char *name = tsc_on ? "tsc" : "clock_gettime";
#else
    const char *name = "clock_gettime";
#endif
    return Py_BuildValue("(sL)", name, (long long)step_ns());
}

/* busy_step() -> (start_ns of the step running now or 0, steps begun so far) */
static PyObject *
fp_busy_step(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(LL)", (long long)ATOMIC_LOAD(&busy_t0), (long long)ATOMIC_LOAD(&busy_n));
}

#define WATCH_READS 64
/* a watchdog's flag (one byte, its Recorder's): the loop runs; the recording ended; the loop
 * stopped (not closed: it may run again) */
#define WATCH_RUN 0
#define WATCH_STOP 1
#define WATCH_PAUSED 2
#define WATCH_LAST 3  /* ended; its last batch may wait (grace_ns) for the program's thread to move on */
#define WATCH_HURRY 4 /* ended; its last batch now (a flush, the end of the process) */
#define WATCH_ENDED(f) ((f) == WATCH_STOP || (f) == WATCH_LAST || (f) == WATCH_HURRY)
#define WATCH_PARKED_TICK_NS 1000000000LL

/* The watchdogs' ticks wait on this (a stop wakes them at once: watch_wake) */
#include <pthread.h>
static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_cv;
static int watch_cv_ready = 0;

static int
watch_cv_init(void)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
#if defined(__linux__)
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
    int r = pthread_cond_init(&watch_cv, &attr);
    pthread_condattr_destroy(&attr);
    watch_cv_ready = r == 0;
    return r == 0 ? 0 : -1;
}

/* what a tick waits for the flag to leave: the running state (until WATCH_STOP...), WATCH_PAUSED
 * (a parked watchdog), or WATCH_LAST (the last batch's grace) */
enum { TICK_RUNNING, TICK_PARKED, TICK_LAST };

/* one tick: until `interval` ns have passed, a watch_wake(), or (rarely) a spurious wake-up;
 * not at all if the flag has already left the state `kind` waits in. Without the condition
 * variable, a sleep (of at most 1 ms in the last batch's grace: a hurry is then seen soon). */
static void
watch_tick(volatile char *stop, int64_t interval, int kind)
{
#if defined(__linux__)
    if (watch_cv_ready) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t end = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + interval;
        ts.tv_sec = (time_t)(end / 1000000000);
        ts.tv_nsec = (long)(end % 1000000000);
        pthread_mutex_lock(&watch_mu);
        char f = stop[0];
        if (kind == TICK_PARKED ? f == WATCH_PAUSED : kind == TICK_LAST ? f == WATCH_LAST : !WATCH_ENDED(f))
            pthread_cond_timedwait(&watch_cv, &watch_mu, &ts);
        pthread_mutex_unlock(&watch_mu);
        return;
    }
#endif
    if (kind == TICK_LAST && interval > 1000000)
        interval = 1000000;
    struct timespec ts = {(time_t)(interval / 1000000000), (long)(interval % 1000000000)};
    nanosleep(&ts, NULL); /* interrupted: a shorter tick */
}

static void
watch_kick(void)
{
    pthread_mutex_lock(&watch_mu);
    if (watch_cv_ready)
        pthread_cond_broadcast(&watch_cv);
    pthread_mutex_unlock(&watch_mu);
}

/* watch_wake(): every watchdog waiting in watch_wait looks at its flag now (set it first).
 * With the GIL held: a wait holds watch_mu only without the GIL, and only for a moment (not
 * releasing the GIL here spares the caller, the loop's thread, a hand-over). */
static PyObject *
fp_watch_wake(PyObject *mod, PyObject *Py_UNUSED(ignored))
{
    pthread_mutex_lock(&watch_mu);
    if (watch_cv_ready)
        pthread_cond_broadcast(&watch_cv);
    pthread_mutex_unlock(&watch_mu);
    Py_RETURN_NONE;
}

/* watch_wait(flag, interval_ns, deadline_ns, long_ns, watch_n, loop_tid[, defer_ns, grace_ns]) -> (why, n, reads)
 *
 * Ended with WATCH_LAST (the recording's last batch is the caller's to send), it returns only
 * grace_ns later, or once the flag is WATCH_HURRY: that batch then does not take the GIL while
 * the program's thread finishes asyncio.run.
 * With defer_ns > 0, a due drain (2) waits for a moment the loop's thread does not want the GIL
 * (in a select that may wait IDLE_MIN_NS or more, or stopped), at most defer_ns.
 *
 * The recorder's watchdog waits here, without the GIL, a tick (interval_ns) at a time, until:
 * 0 flag[0] is WATCH_STOP (stopped); 1 the step running has run long_ns or more; 2 the clock
 * reached deadline_ns (a drain is due); 3 watch_n >= 0 and step number watch_n is no longer
 * running (a probe's step ended); 4 (parked: deadline_ns < 0) the flag left WATCH_PAUSED for
 * WATCH_RUN (the loop runs again). While the flag is WATCH_PAUSED (the loop stopped, not
 * closed) the wait goes on as before: its drain takes what the run left; the watchdog then
 * parks (deadline_ns < 0), with long ticks and no clock reads, until the loop runs again or
 * the recording ends. `n`: steps begun when it returned. At each tick it reads the CPU
 * clocks gil_probe.Ticks keeps (t, loop thread's, process's, this thread's) if loop_tid (the
 * loop thread's kernel id) is given: `reads`, the last WATCH_READS of them. Taking the GIL
 * only then (not at every tick) spares the loop thread a GIL hand-over every tick. */
static PyObject *
fp_watch_wait(PyObject *mod, PyObject *args)
{
    Py_buffer flag;
    long long interval, deadline, long_ns, watch_n, tid;
    long long defer = 0, grace = 0;
    if (!PyArg_ParseTuple(args, "w*LLLLL|LL:watch_wait", &flag, &interval, &deadline, &long_ns, &watch_n, &tid,
                          &defer, &grace))
        return NULL;
    if (flag.len < 1 || interval <= 0) {
        PyBuffer_Release(&flag);
        PyErr_SetString(PyExc_ValueError, "watch_wait(): a 1-byte flag and an interval > 0");
        return NULL;
    }
    int64_t reads[WATCH_READS][4];
    int nr = 0, first = 0, why = 0;
    int64_t n = 0;
    volatile char *stop = (volatile char *)flag.buf;
#ifdef __linux__
    clockid_t loop_clock = (clockid_t)((~(clockid_t)tid) << 3) | 6; /* MAKE_THREAD_CPUCLOCK(tid, SCHED) */
#else
    tid = 0;
#endif
    int parked = deadline < 0;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        watch_tick(stop, parked ? WATCH_PARKED_TICK_NS : interval, parked ? TICK_PARKED : TICK_RUNNING);
        if (WATCH_ENDED(stop[0])) {
            why = 0;
            break;
        }
        if (parked) {
            if (stop[0] == WATCH_RUN) {
                why = 4;
                break;
            }
            continue;
        }
        int64_t t = now_ns();
#ifdef __linux__
        if (tid > 0) {
            struct timespec a, b, c;
            if (clock_gettime(loop_clock, &a) == 0 && clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b) == 0
                && clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c) == 0) {
                int i = (first + nr) % WATCH_READS;
                if (nr == WATCH_READS)
                    first = (first + 1) % WATCH_READS;
                else
                    nr++;
                reads[i][0] = t;
                reads[i][1] = (int64_t)a.tv_sec * 1000000000 + a.tv_nsec;
                reads[i][2] = (int64_t)b.tv_sec * 1000000000 + b.tv_nsec;
                reads[i][3] = (int64_t)c.tv_sec * 1000000000 + c.tv_nsec;
            }
        }
#endif
        int64_t s0 = ATOMIC_LOAD(&busy_t0);
        n = ATOMIC_LOAD(&busy_n);
        if (watch_n >= 0 && (s0 == 0 || n != watch_n)) {
            why = 3;
            break;
        }
        if (s0 != 0 && t - s0 >= long_ns) {
            why = 1;
            break;
        }
        if (deadline > 0 && t >= deadline) {
            /* a drain is due: at once if the loop is idle in a select that may wait; else at
             * the next such select (it wakes this wait), at most `defer` late. (A stopped loop
             * too: asyncio.run runs it twice more at once, for its shutdown, and closes it.) */
            int64_t until = ATOMIC_LOAD(&sel_until);
            if (defer <= 0 || t >= deadline + defer || (until != 0 && until - t >= IDLE_MIN_NS)) {
                ATOMIC_STORE(&drain_wanted, 0);
                why = 2;
                break;
            }
            ATOMIC_STORE(&drain_wanted, 1);
        }
    }
    if (why == 0 && stop[0] == WATCH_LAST && grace > 0) {
        /* The recording ended (the loop closed): its last batch takes the GIL for a while, and
         * the program's thread is still in asyncio.run. Wait up to grace_ns, without the GIL,
         * unless hurried (a flush, os._exit, the end of the process: WATCH_HURRY). */
        int64_t until = now_ns() + grace;
        for (int64_t t = now_ns(); t < until && stop[0] == WATCH_LAST; t = now_ns())
            watch_tick(stop, until - t, TICK_LAST);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&flag);
    PyObject *lst = PyList_New(nr);
    if (lst == NULL)
        return NULL;
    for (int k = 0; k < nr; k++) {
        int64_t *r = reads[(first + k) % WATCH_READS];
        PyObject *item = Py_BuildValue("(LLLL)", (long long)r[0], (long long)r[1], (long long)r[2], (long long)r[3]);
        if (item == NULL) {
            Py_DECREF(lst);
            return NULL;
        }
        PyList_SET_ITEM(lst, k, item);
    }
    return Py_BuildValue("(iLN)", why, (long long)n, lst);
}

/* b64(data) -> bytes: standard base64 of a bytes-like object (no newline), encoded with the
 * GIL released: the recorder's drains send megabytes of packed int64 columns from the
 * watchdog's thread, and binascii holds the GIL (the loop's thread waiting) meanwhile. */
static PyObject *
fp_b64(PyObject *mod, PyObject *arg)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t n = in.len;
    if (n > (PY_SSIZE_T_MAX / 4) * 3 - 3) {
        PyBuffer_Release(&in);
        return PyErr_NoMemory();
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (n + 2) / 3 * 4);
    if (out == NULL) {
        PyBuffer_Release(&in);
        return NULL;
    }
    const unsigned char *src = (const unsigned char *)in.buf;
    char *dst = PyBytes_AS_STRING(out);
    /* an immutable source (bytes) may be read without the GIL (the others: with it) */
    int nogil = PyBytes_CheckExact(arg) && n >= 4096;
    Py_ssize_t i = 0;
    char *d = dst;
    if (nogil) {
        Py_BEGIN_ALLOW_THREADS
        for (; i + 3 <= n; i += 3) {
            uint32_t v = ((uint32_t)src[i] << 16) | ((uint32_t)src[i + 1] << 8) | src[i + 2];
            d[0] = tbl[v >> 18];
            d[1] = tbl[(v >> 12) & 63];
            d[2] = tbl[(v >> 6) & 63];
            d[3] = tbl[v & 63];
            d += 4;
        }
        Py_END_ALLOW_THREADS
    }
    else {
        for (; i + 3 <= n; i += 3) {
            uint32_t v = ((uint32_t)src[i] << 16) | ((uint32_t)src[i + 1] << 8) | src[i + 2];
            d[0] = tbl[v >> 18];
            d[1] = tbl[(v >> 12) & 63];
            d[2] = tbl[(v >> 6) & 63];
            d[3] = tbl[v & 63];
            d += 4;
        }
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)src[i] << 16;
        d[0] = tbl[v >> 18];
        d[1] = tbl[(v >> 12) & 63];
        d[2] = d[3] = '=';
    }
    else if (n - i == 2) {
        uint32_t v = ((uint32_t)src[i] << 16) | ((uint32_t)src[i + 1] << 8);
        d[0] = tbl[v >> 18];
        d[1] = tbl[(v >> 12) & 63];
        d[2] = tbl[(v >> 6) & 63];
        d[3] = '=';
    }
    PyBuffer_Release(&in);
    return out;
}

/* table_of(items) -> (distinct, index bytes): the distinct objects of a list by identity, in
 * order of first appearance, and each item's index into them as native int64 (see
 * recorder_hooks.table_of; a drain's many shared objects: wait reasons, code objects, labels). */
static PyObject *
fp_table_of(PyObject *mod, PyObject *items)
{
    if (!PyList_CheckExact(items)) {
        PyErr_SetString(PyExc_TypeError, "table_of(): a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(items);
    PyObject *distinct = PyList_New(0), *pos = PyDict_New();
    PyObject *idx = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    if (distinct == NULL || pos == NULL || idx == NULL)
        goto fail;
    int64_t *out = (int64_t *)PyBytes_AS_STRING(idx);
    PyObject *last = NULL;
    int64_t last_i = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PyList_GET_ITEM(items, i);
        if (x == last) { /* runs of the same object: no lookup */
            out[i] = last_i;
            continue;
        }
        PyObject *key = PyLong_FromVoidPtr(x);
        if (key == NULL)
            goto fail;
        PyObject *j = PyDict_GetItemWithError(pos, key); /* borrowed */
        int64_t k;
        if (j != NULL) {
            k = PyLong_AsLongLong(j);
        }
        else if (PyErr_Occurred()) {
            Py_DECREF(key);
            goto fail;
        }
        else {
            k = PyList_GET_SIZE(distinct);
            PyObject *kv = PyLong_FromLongLong(k);
            if (kv == NULL || PyDict_SetItem(pos, key, kv) < 0 || PyList_Append(distinct, x) < 0) {
                Py_XDECREF(kv);
                Py_DECREF(key);
                goto fail;
            }
            Py_DECREF(kv);
        }
        Py_DECREF(key);
        out[i] = last_i = k;
        last = x;
    }
    Py_DECREF(pos);
    return Py_BuildValue("(NN)", distinct, idx);
fail:
    Py_XDECREF(distinct);
    Py_XDECREF(pos);
    Py_XDECREF(idx);
    return NULL;
}

static PyMethodDef fp_methods[] = {
    {"setup", fp_setup, METH_VARARGS,
     "setup(orig_run, report, finished, learn_type, taskish, Task, Handle, TimerHandle[, hooks_globals])"},
    {"target", fp_target, METH_VARARGS,
     "target(loop, steps, note_late[, late_ns, done, ready, wait_at, wait_why, rec]): record `loop` into `steps` "
     "(wait_at: Steps(2) rows, or a callable given the id and time in turn); "
     "target(None, None, None) stops"},
    {"now_ns", fp_now_ns, METH_NOARGS, "the hook's clock (CLOCK_MONOTONIC, ns)"},
    {"set_waiting", fp_set_waiting, METH_O, "set_waiting(fn): recorder_hooks._waiting is now fn"},
    {"step_clock", fp_step_clock, METH_NOARGS, "(the steps' clock: tsc or clock_gettime, its reading in ns)"},
    {"set_current_tasks", fp_set_current_tasks, METH_VARARGS,
     "set_current_tasks(current_task, tasks): current_task(loop) is tasks.get(loop) (tasks: a dict, or None: call it)"},
    {"watch_wake", fp_watch_wake, METH_NOARGS, "watch_wake(): waiting watchdogs look at their stop flags now"},
    {"busy_step", fp_busy_step, METH_NOARGS, "busy_step() -> (start ns of the running step or 0, steps begun)"},
    {"watch_wait", fp_watch_wait, METH_VARARGS,
     "watch_wait(flag, interval_ns, deadline_ns, long_ns, watch_n, loop_tid[, defer_ns, grace_ns]) -> (why, n, reads): the watchdog's wait"},
    {"b64", fp_b64, METH_O, "b64(data) -> bytes: base64 (no newline), the GIL released for bytes"},
    {"table_of", fp_table_of, METH_O, "table_of(items) -> (distinct objects, int64 index bytes)"},
    {"set_waits", fp_set_waits, METH_VARARGS,
     "set_waits(waiting, Future, sleep_code, reason): note sleeps as waiting would, in C"},
    {"resolve_steps", fp_resolve_steps, METH_VARARGS,
     "resolve_steps(data, cols, single, hist, live, resolve) -> [t0, t1, seq, ...] (see resolver.py)"},
    {NULL}
};

static struct PyModuleDef fp_module = {
    PyModuleDef_HEAD_INIT, "_fastpath",
    "The recorder's compiled hot path (optional; see recorder_hooks.py).", -1, fp_methods,
};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    if (PyType_Ready(&Steps_Type) < 0 || PyType_Ready(&Hook_Type) < 0 || PyType_Ready(&CreateTask_Type) < 0
        || PyType_Ready(&CallAt_Type) < 0 || PyType_Ready(&CancelNote_Type) < 0
        || PyType_Ready(&SelectCall_Type) < 0)
        return NULL;
#define INTERN(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL
    INTERN(s_loop, "_loop");
    INTERN(s_callback, "_callback");
    INTERN(s_args, "_args");
    INTERN(s_context, "_context");
    INTERN(s_when, "_when");
    INTERN(s_self, "__self__");
    INTERN(s_state, "_state");
    INTERN(s_fut_waiter, "_fut_waiter");
    INTERN(s_pending, "PENDING");
    INTERN(s_run, "run");
    INTERN(s_cancelled_state, "CANCELLED");
    INTERN(s_exception, "_exception");
    INTERN(s_get_name, "get_name");
    INTERN(s_cancelled, "cancelled");
    INTERN(s_error, "error");
    INTERN(s_ok, "ok");
    INTERN(s_callbacks, "_callbacks");
    INTERN(s_source_tb, "_source_traceback");
    INTERN(s_cr_code, "cr_code");
    INTERN(s_coro, "_coro");
    INTERN(s_cr_await, "cr_await");
    INTERN(s_cr_suspended, "cr_suspended");
    INTERN(s_cr_frame, "cr_frame");
    INTERN(s_done, "done");
    INTERN(s_name, "__name__");
    INTERN(s_qualname, "__qualname__");
    INTERN(s_scheduled, "_scheduled");
    INTERN(s_select, "select");
#undef INTERN
    tsc_setup();
    if (!watch_cv_ready && watch_cv_init() < 0) {
        PyErr_SetString(PyExc_OSError, "_fastpath: no condition variable for the watchdog");
        return NULL;
    }
    PyObject *m = PyModule_Create(&fp_module);
    if (m == NULL)
        return NULL;
    Hook *run = PyObject_New(Hook, &Hook_Type);
    Hook *trun = PyObject_New(Hook, &Hook_Type);
    if (run == NULL || trun == NULL)
        return NULL;
    run->vectorcall = trun->vectorcall = hook_vectorcall;
    run->timer = 0;
    trun->timer = 1;
    if (PyModule_AddObject(m, "handle_run", (PyObject *)run) < 0
        || PyModule_AddObject(m, "timer_run", (PyObject *)trun) < 0)
        return NULL;
    Py_INCREF(&Steps_Type);
    Py_INCREF(&CreateTask_Type);
    Py_INCREF(&CallAt_Type);
    Py_INCREF(&CancelNote_Type);
    Py_INCREF(&SelectCall_Type);
    if (PyModule_AddObject(m, "Steps", (PyObject *)&Steps_Type) < 0
        || PyModule_AddObject(m, "CreateTask", (PyObject *)&CreateTask_Type) < 0
        || PyModule_AddObject(m, "CallAt", (PyObject *)&CallAt_Type) < 0
        || PyModule_AddObject(m, "CancelNote", (PyObject *)&CancelNote_Type) < 0
        || PyModule_AddObject(m, "SelectCall", (PyObject *)&SelectCall_Type) < 0
        || PyModule_AddIntConstant(m, "ABI", ABI) < 0
        || PyModule_AddIntConstant(m, "STEP_COLS", STEP_COLS) < 0)
        return NULL;
    return m;
}
