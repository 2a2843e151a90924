/* The probe decoder's compiled twin: a whole batch of bastion_record.h records -> `Event`s.
 *
 * bastion.sensor.probe.decode stays the definition; this file follows it step for step (one
 * header, the u16 length array, one value per parameter by type) and is built by
 * scripts/setup (bastion.sensor.probe.accel_build), never committed as a binary. Python hands it,
 * once, one layout per event code (made from events/schema.py by decode.py): the event's name,
 * category, specs, whether it has a result, and per parameter its name, a kind (the width and
 * sign of an integer, text, argv, bytes) and, for flag integers, the converter to Falco's
 * encoding; sockaddr and socktuple keep their Python readers (rare, and made of ipaddress
 * objects). Any record it cannot decode makes `decode` raise ValueError: the caller then decodes
 * the batch with the Python path, which raises the error it always raised, word for word.
 *
 * Events are made without running Event.__init__: the object is allocated by its type and its
 * slots written through the offsets of the class's member descriptors (what __init__ assigns,
 * in the same order of values), which is where most of the Python path's time went.
 *
 * One file past conventions' 500 lines on purpose: it is one extension module (one init, one
 * build step, one fingerprint), in two parts: the batch decoder, then the ring's loops.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <linux/bpf.h> /* BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ */

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "bastion_record.h records are little-endian; this decoder reads them in place"
#endif

#define HEADER_SIZE 40
#define CPU_KILLED 0x8000
#define MAX_PARAMS 64
#define FLAG_CACHE_MAX 4096 /* as decode._memoised: a flood of odd values cannot grow it */

/* Parameter kinds: decode.py's ACCEL_KINDS gives the same numbers. */
enum kind {
    K_S64 = 0, K_U64, K_S32, K_U32, K_U16, K_U8, K_TEXT, K_STRINGS, K_BYTES, K_READER,
    K_COUNT
};

typedef struct {
    PyObject *name;      /* the params key (str) */
    int kind;
    PyObject *convert;   /* flag integers: int -> int (Falco's encoding), or NULL */
    PyObject *cache;     /* convert's results by value (dict), with convert */
    PyObject *reader;    /* K_READER: reader(raw, off, length) */
} Param;

typedef struct {
    PyObject *name, *category, *specs;
    int has_res;
    Py_ssize_t nparams;
    Param *params;
} Layout;

/* The Event slots, in the order of Event.__init__'s arguments, then what __init__ sets. */
static const char *const SLOTS[] = {
    "num", "ts", "cpu", "tid", "pid", "type", "dir", "category", "params", "specs", "res",
    "cgroup_id", "thread", "fd", "kernel_killed",
};
enum { S_NUM, S_TS, S_CPU, S_TID, S_PID, S_TYPE, S_DIR, S_CATEGORY, S_PARAMS, S_SPECS, S_RES,
       S_CGROUP, S_THREAD, S_FD, S_KILLED, S_COUNT };

typedef struct {
    PyObject_HEAD
    PyTypeObject *event_type;
    Py_ssize_t offsets[S_COUNT];
    PyObject *exit_dir;
    Layout **layouts; /* by event code, up to the highest known; NULL: unknown */
    Py_ssize_t nlayouts;
} BatchDecoder;

static void layout_free(Layout *layout)
{
    if (layout == NULL)
        return;
    for (Py_ssize_t i = 0; i < layout->nparams; i++) {
        Param *p = &layout->params[i];
        Py_XDECREF(p->name);
        Py_XDECREF(p->convert);
        Py_XDECREF(p->cache);
        Py_XDECREF(p->reader);
    }
    PyMem_Free(layout->params);
    Py_XDECREF(layout->name);
    Py_XDECREF(layout->category);
    Py_XDECREF(layout->specs);
    PyMem_Free(layout);
}

static void decoder_dealloc(BatchDecoder *self)
{
    for (Py_ssize_t code = 0; code < self->nlayouts; code++)
        layout_free(self->layouts[code]);
    PyMem_Free(self->layouts);
    Py_XDECREF(self->event_type);
    Py_XDECREF(self->exit_dir);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* (name, category, specs, has_res, ((key, kind, convert|None, reader|None), ...)) */
static Layout *layout_new(PyObject *spec)
{
    PyObject *name, *category, *specs, *params;
    int has_res;
    if (!PyArg_ParseTuple(spec, "UUO!pO!;a layout is (name, category, specs, has_res, params)",
                          &name, &category, &PyDict_Type, &specs, &has_res, &PyTuple_Type,
                          &params))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(params);
    if (n > MAX_PARAMS) {
        PyErr_Format(PyExc_ValueError, "event %U has %zd parameters (at most %d)", name, n,
                     MAX_PARAMS);
        return NULL;
    }
    Layout *layout = PyMem_Calloc(1, sizeof(Layout));
    if (layout == NULL)
        return (Layout *)PyErr_NoMemory();
    layout->params = PyMem_Calloc(n ? n : 1, sizeof(Param));
    if (layout->params == NULL) {
        PyMem_Free(layout);
        return (Layout *)PyErr_NoMemory();
    }
    layout->name = Py_NewRef(name);
    layout->category = Py_NewRef(category);
    layout->specs = Py_NewRef(specs);
    layout->has_res = has_res;
    layout->nparams = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key, *convert, *reader;
        int kind;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(params, i), "UiOO;a parameter is "
                              "(name, kind, convert, reader)", &key, &kind, &convert, &reader))
            goto fail;
        if (kind < 0 || kind >= K_COUNT || (kind == K_READER && reader == Py_None)) {
            PyErr_Format(PyExc_ValueError, "event %U parameter %U: bad kind %d", name, key, kind);
            goto fail;
        }
        Param *p = &layout->params[i];
        p->name = Py_NewRef(key);
        p->kind = kind;
        if (convert != Py_None) {
            p->convert = Py_NewRef(convert);
            if ((p->cache = PyDict_New()) == NULL)
                goto fail;
        }
        if (reader != Py_None)
            p->reader = Py_NewRef(reader);
    }
    return layout;
fail:
    layout_free(layout);
    return NULL;
}

/* BatchDecoder(event_type, exit_dir, layouts: {code: layout}) */
static PyObject *decoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *event_type, *exit_dir, *layouts;
    if (!PyArg_ParseTuple(args, "O!UO!", &PyType_Type, &event_type, &exit_dir, &PyDict_Type,
                          &layouts))
        return NULL;
    BatchDecoder *self = (BatchDecoder *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->event_type = (PyTypeObject *)Py_NewRef(event_type);
    self->exit_dir = Py_NewRef(exit_dir);
    for (int i = 0; i < S_COUNT; i++) {
        PyObject *descr = PyObject_GetAttrString(event_type, SLOTS[i]);
        if (descr == NULL)
            goto fail;
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type)
            && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        if (ok)
            self->offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "Event.%s is not a __slots__ member", SLOTS[i]);
            goto fail;
        }
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    long highest = -1;
    while (PyDict_Next(layouts, &pos, &key, &value)) {
        long code = PyLong_AsLong(key);
        if (code == -1 && PyErr_Occurred())
            goto fail;
        if (code > highest)
            highest = code;
    }
    if (highest > 65535) {
        PyErr_Format(PyExc_ValueError, "event code %ld is not a u16", highest);
        goto fail;
    }
    self->layouts = PyMem_Calloc(highest + 1 > 0 ? highest + 1 : 1, sizeof(Layout *));
    if (self->layouts == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    self->nlayouts = highest + 1;
    pos = 0;
    while (PyDict_Next(layouts, &pos, &key, &value)) {
        long code = PyLong_AsLong(key);
        if (code == -1 && PyErr_Occurred())
            goto fail;
        if (code < 0 || code > 65535) {
            PyErr_Format(PyExc_ValueError, "event code %ld is not a u16", code);
            goto fail;
        }
        Layout *layout = layout_new(value);
        if (layout == NULL)
            goto fail;
        layout_free(self->layouts[code]);
        self->layouts[code] = layout;
    }
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

static inline uint16_t u16_at(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t u32_at(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t u64_at(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static PyObject *text(const unsigned char *p, Py_ssize_t length)
{
    if (p[length - 1] == 0)
        length--;
    return PyUnicode_DecodeUTF8((const char *)p, length, "surrogateescape");
}

/* argv/env: NUL-separated strings, the last one's NUL (if any) ending the list */
static PyObject *strings(const unsigned char *p, Py_ssize_t length)
{
    Py_ssize_t count = 1;
    for (Py_ssize_t i = 0; i < length; i++)
        count += p[i] == 0;
    if (p[length - 1] == 0)
        count--;
    PyObject *out = PyTuple_New(count);
    if (out == NULL)
        return NULL;
    const unsigned char *start = p, *end = p + length;
    for (Py_ssize_t i = 0; i < count; i++) {
        const unsigned char *nul = memchr(start, 0, end - start);
        const unsigned char *stop = nul ? nul : end;
        PyObject *s = PyUnicode_DecodeUTF8((const char *)start, stop - start, "surrogateescape");
        if (s == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, s);
        start = stop + 1;
    }
    return out;
}

static PyObject *converted(Param *p, PyObject *value)
{
    PyObject *out = PyDict_GetItemWithError(p->cache, value);
    if (out != NULL) {
        Py_DECREF(value);
        return Py_NewRef(out);
    }
    if (PyErr_Occurred()) {
        Py_DECREF(value);
        return NULL;
    }
    out = PyObject_CallOneArg(p->convert, value);
    if (out != NULL && PyDict_GET_SIZE(p->cache) < FLAG_CACHE_MAX
        && PyDict_SetItem(p->cache, value, out) < 0)
        Py_CLEAR(out);
    Py_DECREF(value);
    return out;
}

static PyObject *value(Param *p, const unsigned char *at, Py_ssize_t length)
{
    PyObject *v;
    switch (p->kind) {
    case K_S64: v = PyLong_FromLongLong((long long)u64_at(at)); break;
    case K_U64: v = PyLong_FromUnsignedLongLong(u64_at(at)); break;
    case K_S32: v = PyLong_FromLong((int32_t)u32_at(at)); break;
    case K_U32: v = PyLong_FromUnsignedLong(u32_at(at)); break;
    case K_U16: v = PyLong_FromUnsignedLong(u16_at(at)); break;
    case K_U8: v = PyLong_FromUnsignedLong(at[0]); break;
    case K_TEXT: return text(at, length);
    case K_STRINGS: return strings(at, length);
    case K_BYTES: return PyBytes_FromStringAndSize((const char *)at, length);
    default: /* K_READER: decode_one calls the reader itself (it knows the offset) */
        return PyErr_Format(PyExc_SystemError, "parameter kind %d has no C reader", p->kind);
    }
    if (v == NULL || p->convert == NULL)
        return v;
    return converted(p, v);
}

/* The width an integer kind reads: a length shorter than it would read past the value. */
static const Py_ssize_t WIDTH[K_COUNT] = {8, 8, 4, 4, 2, 1, 0, 0, 0, 0};

#define SLOT(obj, i) (*(PyObject **)((char *)(obj) + self->offsets[i]))

/* One record -> an Event (new reference); NULL with ValueError when it breaks the format. */
static PyObject *decode_one(BatchDecoder *self, PyObject *record, const unsigned char *raw,
                            Py_ssize_t len, long long num, long long epoch)
{
    if (len < HEADER_SIZE)
        return PyErr_Format(PyExc_ValueError, "short record");
    uint64_t ts = u64_at(raw), cgroup_id = u64_at(raw + 8);
    int64_t ret = (int64_t)u64_at(raw + 16);
    uint32_t tid = u32_at(raw + 24), tgid = u32_at(raw + 28);
    uint16_t code = u16_at(raw + 32), cpu = u16_at(raw + 34), nparams = u16_at(raw + 36);
    uint16_t size = u16_at(raw + 38);
    Layout *layout = code < self->nlayouts ? self->layouts[code] : NULL;
    if (layout == NULL || layout->nparams != nparams || size > len)
        return PyErr_Format(PyExc_ValueError, "record does not match the event table");
    Py_ssize_t off = HEADER_SIZE + 2 * (Py_ssize_t)nparams;
    if (off > len)
        return PyErr_Format(PyExc_ValueError, "length array past the record");
    PyObject *params = PyDict_New();
    if (params == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < nparams; i++) {
        Py_ssize_t length = u16_at(raw + HEADER_SIZE + 2 * i);
        if (length == 0)
            continue; /* unreadable: left out of params */
        Param *p = &layout->params[i];
        PyObject *v;
        if (p->kind == K_READER) {
            /* the Python reader slices what it needs (as the Python path calls it) */
            PyObject *at = PyLong_FromSsize_t(off), *n = PyLong_FromSsize_t(length);
            PyObject *args[3] = {record, at, n};
            v = (at && n) ? PyObject_Vectorcall(p->reader, args, 3, NULL) : NULL;
            Py_XDECREF(at);
            Py_XDECREF(n);
        } else if (off + (WIDTH[p->kind] ? WIDTH[p->kind] : length) > len) {
            v = PyErr_Format(PyExc_ValueError, "parameter past the record");
        } else {
            v = value(p, raw + off, length);
        }
        if (v == NULL || PyDict_SetItem(params, p->name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(params);
            return NULL;
        }
        Py_DECREF(v);
        off += length;
    }
    if (off > size) {
        Py_DECREF(params);
        return PyErr_Format(PyExc_ValueError, "parameters past the record's size");
    }
    long long stamp;
    PyObject *ts_obj;
    if (ts <= (uint64_t)LLONG_MAX && !__builtin_add_overflow((long long)ts, epoch, &stamp))
        ts_obj = PyLong_FromLongLong(stamp);
    else
        ts_obj = PyErr_Format(PyExc_ValueError, "timestamp out of range");
    PyObject *event = self->event_type->tp_alloc(self->event_type, 0);
    PyObject *values[S_COUNT] = {
        PyLong_FromLongLong(num),
        ts_obj,
        PyLong_FromLong(cpu & ~CPU_KILLED),
        PyLong_FromUnsignedLong(tid),
        PyLong_FromUnsignedLong(tgid),
        Py_NewRef(layout->name),
        Py_NewRef(self->exit_dir),
        Py_NewRef(layout->category),
        params,
        Py_NewRef(layout->specs),
        layout->has_res ? PyLong_FromLongLong(ret) : Py_NewRef(Py_None),
        PyLong_FromUnsignedLongLong(cgroup_id),
        Py_NewRef(Py_None),
        Py_NewRef(Py_None),
        Py_NewRef((cpu & CPU_KILLED) ? Py_True : Py_False),
    };
    int failed = event == NULL;
    for (int i = 0; i < S_COUNT; i++) {
        if (values[i] == NULL)
            failed = 1;
        else if (event != NULL)
            SLOT(event, i) = values[i]; /* the new object's slots are all NULL */
        else
            Py_DECREF(values[i]);
    }
    if (failed) {
        Py_XDECREF(event);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return NULL;
    }
    return event;
}

/* decode(records, num, epoch) -> [Event]: `num` numbers the first, `epoch` is added to the
 * stamps (Decoder.boot_epoch_ns); ValueError on a bad record. */
static PyObject *decoder_decode(BatchDecoder *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "decode(records: list, num: int, epoch: int)");
        return NULL;
    }
    PyObject *records = args[0];
    long long num = PyLong_AsLongLong(args[1]), epoch;
    if ((num == -1 && PyErr_Occurred())
        || ((epoch = PyLong_AsLongLong(args[2])) == -1 && PyErr_Occurred()))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(records);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *record = PyList_GET_ITEM(records, i), *event;
        if (PyBytes_Check(record)) {
            event = decode_one(self, record, (const unsigned char *)PyBytes_AS_STRING(record),
                               PyBytes_GET_SIZE(record), num + i, epoch);
        } else {
            Py_buffer view;
            if (PyObject_GetBuffer(record, &view, PyBUF_SIMPLE) < 0) {
                Py_DECREF(out);
                return NULL;
            }
            event = decode_one(self, record, view.buf, view.len, num + i, epoch);
            PyBuffer_Release(&view);
        }
        if (event == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, event);
    }
    return out;
}

/* ---- the ring buffer's reader loops (probe/ringbuf.py's _ring_read, _ring_extent,
 * split_chunk, which stay the definition): walking the 8-byte record headers of the mmapped
 * data area cost the Python reader ~0.7 us a record, as much as decoding it. */

/* The length word of a record header, read with acquire order (the kernel commits a record by
 * clearing its BUSY bit: what follows it must not be read before that), as libbpf does. */
static inline uint32_t header_len(const unsigned char *p)
{
    return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}

static int get_data(PyObject *obj, Py_buffer *view)
{
    return PyObject_GetBuffer(obj, view, PyBUF_SIMPLE);
}

/* The offset in a record header's data, checked against the buffer (a double-mapped area:
 * a record never wraps). */
static int in_view(Py_buffer *view, uint64_t offset, uint64_t size)
{
    if (offset + BPF_RINGBUF_HDR_SZ + size > (uint64_t)view->len) {
        PyErr_SetString(PyExc_ValueError, "a ring record runs past the mapped data area");
        return 0;
    }
    return 1;
}

/* ring_read(data, cons, prod, mask, max_records) -> (records, cons, discarded) */
static PyObject *ring_read(PyObject *module, PyObject *args)
{
    PyObject *data;
    unsigned long long cons, prod, mask;
    Py_ssize_t max_records;
    if (!PyArg_ParseTuple(args, "OKKKn", &data, &cons, &prod, &mask, &max_records))
        return NULL;
    Py_buffer view;
    if (get_data(data, &view) < 0)
        return NULL;
    const unsigned char *base = view.buf;
    PyObject *records = PyList_New(0);
    long long discarded = 0;
    if (records == NULL)
        goto fail;
    while (cons < prod && PyList_GET_SIZE(records) < max_records) {
        uint64_t offset = cons & mask;
        if (!in_view(&view, offset, 0))
            goto fail;
        uint32_t length = header_len(base + offset);
        if (length & BPF_RINGBUF_BUSY_BIT)
            break; /* reserved, not yet submitted: records after it wait for it too */
        uint32_t size = length & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
        cons += (BPF_RINGBUF_HDR_SZ + size + 7) & ~7ULL;
        if (length & BPF_RINGBUF_DISCARD_BIT) {
            discarded++;
            continue;
        }
        if (!in_view(&view, offset, size))
            goto fail;
        PyObject *record = PyBytes_FromStringAndSize(
            (const char *)base + offset + BPF_RINGBUF_HDR_SZ, size);
        if (record == NULL || PyList_Append(records, record) < 0) {
            Py_XDECREF(record);
            goto fail;
        }
        Py_DECREF(record);
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(NKL)", records, cons, discarded);
fail:
    Py_XDECREF(records);
    PyBuffer_Release(&view);
    return NULL;
}

/* ring_extent(data, cons, prod, mask, max_bytes) -> (cons, count, last, discarded): how far
 * the committed records reach (about max_bytes at most), how many of them are not discarded,
 * the data offset of the last of those (-1: none) */
static PyObject *ring_extent(PyObject *module, PyObject *args)
{
    PyObject *data;
    unsigned long long cons, prod, mask, max_bytes;
    if (!PyArg_ParseTuple(args, "OKKKK", &data, &cons, &prod, &mask, &max_bytes))
        return NULL;
    Py_buffer view;
    if (get_data(data, &view) < 0)
        return NULL;
    const unsigned char *base = view.buf;
    unsigned long long limit = cons + max_bytes;
    long long count = 0, discarded = 0, last = -1;
    while (cons < prod && cons < limit) {
        uint64_t offset = cons & mask;
        if (!in_view(&view, offset, 0)) {
            PyBuffer_Release(&view);
            return NULL;
        }
        uint32_t length = header_len(base + offset);
        if (length & BPF_RINGBUF_BUSY_BIT)
            break;
        if (length & BPF_RINGBUF_DISCARD_BIT) {
            discarded++;
        } else {
            count++;
            last = (long long)offset;
        }
        cons += (BPF_RINGBUF_HDR_SZ + (length & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT))
                 + 7) & ~7ULL;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(KLLL)", cons, count, last, discarded);
}

/* split_chunk(chunk) -> [record]: a ring_extent block's records, discarded ones left out */
static PyObject *split_chunk(PyObject *module, PyObject *chunk)
{
    Py_buffer view;
    if (get_data(chunk, &view) < 0)
        return NULL;
    const unsigned char *base = view.buf;
    PyObject *records = PyList_New(0);
    if (records == NULL)
        goto fail;
    Py_ssize_t offset = 0, end = view.len;
    while (offset < end) {
        if (offset + BPF_RINGBUF_HDR_SZ > end) {
            PyErr_SetString(PyExc_ValueError, "a ring block ends inside a record header");
            goto fail;
        }
        uint32_t length;
        memcpy(&length, base + offset, 4); /* a copy: nobody writes it any more */
        uint32_t size = length & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
        if (!(length & BPF_RINGBUF_DISCARD_BIT)) {
            Py_ssize_t stop = offset + BPF_RINGBUF_HDR_SZ + size;
            PyObject *record = PyBytes_FromStringAndSize(
                (const char *)base + offset + BPF_RINGBUF_HDR_SZ,
                (stop > end ? end : stop) - (offset + BPF_RINGBUF_HDR_SZ));
            if (record == NULL || PyList_Append(records, record) < 0) {
                Py_XDECREF(record);
                goto fail;
            }
            Py_DECREF(record);
        }
        offset += (BPF_RINGBUF_HDR_SZ + size + 7) & ~7;
    }
    PyBuffer_Release(&view);
    return records;
fail:
    Py_XDECREF(records);
    PyBuffer_Release(&view);
    return NULL;
}

/* ------------------------------------------------------------------ the state's common case
 * StateFast(threads, cgroups, limiter, kinds, Event, Thread, Fd, fd_fields, fd_defaults,
 *           file_type, dir_type, exit_dir, o_directory, slow)(event) -> None
 *
 * SensorState.apply for the flood's two events, in C: the exit of an open (kinds: 1) or of a
 * close (2) by a thread the table knows, whose event cgroup is the thread's and settled (or 0),
 * an absolute name abspath() leaves as it is, a close of an fd the table holds. It does exactly
 * what apply, on_files.on_open (or on_close) and FdLimiter.put do for such an event; every
 * other event, and any value of another type than theirs, goes to `slow` (SensorState.apply,
 * bound) before anything is changed. Objects are read and written through the slots' offsets,
 * as the decoder writes an Event; an Fd is made the same way, its other fields from
 * `fd_defaults` (Fd's dataclass defaults, in field order after `ino`). It counts the events it
 * applies in `handled`, which SensorState.events adds to its own method's count.
 * bastion/sensor/state/fast.py makes it; tests/unit/sensor/test_state_fast.py holds it to the
 * Python path on every event of the public captures and on the edge cases. */
enum { T_FDS, T_CGROUP, T_CONTAINER, T_SETUP, T_PID, T_LASTFD, T_COUNT };
static const char *const THREAD_SLOTS[] = {
    "fds", "cgroup_id", "container_id", "setup_of", "pid", "lastevent_fd",
};
#define FD_FIELDS_MAX 32

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *k_name, *k_flags, *k_dev, *k_ino, *k_fd;
    PyObject *threads, *cgroups, *limiter, *kinds, *slow;
    PyObject *file_type, *dir_type, *exit_dir, *zero, *one;
    PyTypeObject *fd_type;
    PyObject *fd_defaults;
    Py_ssize_t ev[S_COUNT], th[T_COUNT], fd[FD_FIELDS_MAX], lim_limit, lim_dropped;
    Py_ssize_t nfd;
    long o_directory;
    unsigned long long handled; /* events it applied itself (SensorState.events) */
} StateFast;

static int slot_offset(PyObject *type, const char *name, Py_ssize_t *out)
{
    PyObject *descr = PyObject_GetAttrString(type, name);
    if (descr == NULL)
        return -1;
    int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type);
    if (ok)
        *out = ((PyMemberDescrObject *)descr)->d_member->offset;
    Py_DECREF(descr);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%R.%s is not a __slots__ member", type, name);
        return -1;
    }
    return 0;
}

static int fast_traverse(StateFast *self, visitproc visit, void *arg)
{
    Py_VISIT(self->threads);
    Py_VISIT(self->cgroups);
    Py_VISIT(self->limiter);
    Py_VISIT(self->kinds);
    Py_VISIT(self->slow);
    Py_VISIT(self->fd_defaults);
    Py_VISIT(self->fd_type);
    return 0;
}

static int fast_clear(StateFast *self)
{
    Py_CLEAR(self->threads);
    Py_CLEAR(self->cgroups);
    Py_CLEAR(self->limiter);
    Py_CLEAR(self->kinds);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->fd_defaults);
    Py_CLEAR(self->fd_type);
    Py_CLEAR(self->file_type);
    Py_CLEAR(self->dir_type);
    Py_CLEAR(self->exit_dir);
    Py_CLEAR(self->zero);
    Py_CLEAR(self->one);
    Py_CLEAR(self->k_name);
    Py_CLEAR(self->k_flags);
    Py_CLEAR(self->k_dev);
    Py_CLEAR(self->k_ino);
    Py_CLEAR(self->k_fd);
    return 0;
}

static void fast_dealloc(StateFast *self)
{
    PyObject_GC_UnTrack(self);
    fast_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *fast_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                                 PyObject *kwnames);

static PyObject *fast_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *threads, *cgroups, *limiter, *kinds, *event_t, *thread_t, *fd_t, *fields,
        *defaults, *file_type, *dir_type, *exit_dir, *slow;
    long o_directory;
    if (!PyArg_ParseTuple(args, "O!O!OO!O!O!O!O!O!UUUlO", &PyDict_Type, &threads,
                          &PyDict_Type, &cgroups, &limiter, &PyDict_Type, &kinds, &PyType_Type,
                          &event_t, &PyType_Type, &thread_t, &PyType_Type, &fd_t, &PyTuple_Type,
                          &fields, &PyTuple_Type, &defaults, &file_type, &dir_type, &exit_dir,
                          &o_directory, &slow))
        return NULL;
    Py_ssize_t nfd = PyTuple_GET_SIZE(fields);
    if (nfd < 6 || nfd > FD_FIELDS_MAX || PyTuple_GET_SIZE(defaults) != nfd - 6) {
        PyErr_SetString(PyExc_ValueError, "Fd: num, type, name, flags, dev, ino, then defaults");
        return NULL;
    }
    StateFast *self = (StateFast *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->threads = Py_NewRef(threads);
    self->cgroups = Py_NewRef(cgroups);
    self->limiter = Py_NewRef(limiter);
    self->kinds = Py_NewRef(kinds);
    self->slow = Py_NewRef(slow);
    self->fd_type = (PyTypeObject *)Py_NewRef(fd_t);
    self->fd_defaults = Py_NewRef(defaults);
    self->file_type = Py_NewRef(file_type);
    self->dir_type = Py_NewRef(dir_type);
    self->exit_dir = Py_NewRef(exit_dir);
    self->o_directory = o_directory;
    self->nfd = nfd;
    self->vectorcall = fast_vectorcall;
    if ((self->zero = PyLong_FromLong(0)) == NULL || (self->one = PyLong_FromLong(1)) == NULL ||
        (self->k_name = PyUnicode_InternFromString("name")) == NULL ||
        (self->k_flags = PyUnicode_InternFromString("flags")) == NULL ||
        (self->k_dev = PyUnicode_InternFromString("dev")) == NULL ||
        (self->k_ino = PyUnicode_InternFromString("ino")) == NULL ||
        (self->k_fd = PyUnicode_InternFromString("fd")) == NULL)
        goto fail;
    for (int i = 0; i < S_COUNT; i++)
        if (slot_offset(event_t, SLOTS[i], &self->ev[i]) < 0)
            goto fail;
    for (int i = 0; i < T_COUNT; i++)
        if (slot_offset(thread_t, THREAD_SLOTS[i], &self->th[i]) < 0)
            goto fail;
    for (Py_ssize_t i = 0; i < nfd; i++) {
        PyObject *name = PyTuple_GET_ITEM(fields, i);
        if (!PyUnicode_Check(name) || slot_offset(fd_t, PyUnicode_AsUTF8(name), &self->fd[i]) < 0)
            goto fail;
    }
    PyObject *lim_t = (PyObject *)Py_TYPE(limiter);
    if (slot_offset(lim_t, "limit", &self->lim_limit) < 0 ||
        slot_offset(lim_t, "dropped", &self->lim_dropped) < 0)
        goto fail;
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

#define AT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* replace the slot at `off` of `obj` with `value` (a new reference is taken) */
static inline void put_slot(PyObject *obj, Py_ssize_t off, PyObject *value)
{
    PyObject *old = AT(obj, off);
    AT(obj, off) = Py_NewRef(value);
    Py_XDECREF(old);
}

/* abspath's own fast case: an absolute name with no "/.", "//" or trailing slash */
static int already_folded(PyObject *name)
{
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(name, &n);
    if (s == NULL) {
        PyErr_Clear(); /* surrogates: the Python path */
        return 0;
    }
    if (n == 0 || s[0] != '/' || s[n - 1] == '/')
        return 0;
    for (Py_ssize_t i = 0; i + 1 < n; i++)
        if (s[i] == '/' && (s[i + 1] == '.' || s[i + 1] == '/'))
            return 0;
    return 1;
}

/* -1, 0 or 1 for an int's sign; 2 for anything else */
static int sign_of(PyObject *v)
{
    if (!PyLong_Check(v))
        return 2;
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow)
        return overflow;
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 2;
    }
    return x < 0 ? -1 : x > 0;
}

/* 1: applied; 0: not this path's (nothing changed); -1: an error is set */
static int fast_apply(StateFast *self, PyObject *event)
{
    PyObject *kind = AT(event, self->ev[S_TYPE]), *dir = AT(event, self->ev[S_DIR]);
    if (kind == NULL || dir == NULL || !PyUnicode_Check(kind))
        return 0;
    PyObject *code = PyDict_GetItemWithError(self->kinds, kind);
    if (code == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (dir != self->exit_dir && (!PyUnicode_Check(dir) || PyUnicode_Compare(dir, self->exit_dir)))
        return 0;
    PyObject *thread = PyDict_GetItemWithError(self->threads, AT(event, self->ev[S_TID]));
    if (thread == NULL)
        return PyErr_Occurred() ? -1 : 0;
    /* the cgroup branch of apply must have nothing to do */
    PyObject *cgid = AT(event, self->ev[S_CGROUP]);
    int truth = PyObject_IsTrue(cgid);
    if (truth < 0)
        return -1;
    if (truth) {
        int same = PyObject_RichCompareBool(cgid, AT(thread, self->th[T_CGROUP]), Py_EQ);
        if (same <= 0)
            return same;
        int placed = PyObject_IsTrue(AT(thread, self->th[T_CONTAINER]));
        if (placed < 0)
            return -1;
        if (!placed) {
            int setup = PyObject_IsTrue(AT(thread, self->th[T_SETUP]));
            if (setup != 0)
                return setup < 0 ? -1 : 0;
            PyObject *cached = PyDict_GetItemWithError(self->cgroups, cgid);
            if (cached == NULL)
                return PyErr_Occurred() ? -1 : 0; /* not settled: _unknown_due's business */
            int known = PyObject_IsTrue(cached);
            if (known != 0)
                return known < 0 ? -1 : 0; /* a container's cgroup: placed again in Python */
        }
    }
    PyObject *fds = AT(thread, self->th[T_FDS]);
    PyObject *params = AT(event, self->ev[S_PARAMS]), *res = AT(event, self->ev[S_RES]);
    if (fds == NULL || !PyDict_CheckExact(fds) || params == NULL || !PyDict_Check(params) ||
        res == NULL || AT(thread, self->th[T_PID]) == NULL || AT(event, self->ev[S_PID]) == NULL)
        return 0; /* unset slots: the Python path raises what it raises */
    if (PyLong_AsLong(code) == 1) { /* on_open, then FdLimiter.put */
        int rs = sign_of(res);
        if (rs < 0 || rs > 1)
            return 0; /* None (its fd parameter), a failed open, not an int */
        PyObject *name = PyDict_GetItemWithError(params, self->k_name);
        PyObject *flags = name ? PyDict_GetItemWithError(params, self->k_flags) : NULL;
        if (flags == NULL || !PyUnicode_CheckExact(name) || !PyLong_Check(flags))
            return PyErr_Occurred() ? -1 : 0; /* absent (its enter event's) or odd */
        if (!already_folded(name))
            return 0;
        PyObject *dev = PyDict_GetItemWithError(params, self->k_dev);
        PyObject *ino = dev || !PyErr_Occurred() ? PyDict_GetItemWithError(params, self->k_ino)
                                                 : NULL;
        if (PyErr_Occurred())
            return -1;
        long bits = PyLong_AsLong(flags);
        if (bits == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        /* FdLimiter.put: a full table keeps a replaced number, drops a new one */
        PyObject *limit = AT(self->limiter, self->lim_limit);
        if (limit == NULL || !PyLong_CheckExact(limit))
            return 0;
        long most = PyLong_AsLong(limit);
        if (most == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        int full = 0;
        if (PyDict_GET_SIZE(fds) >= most) {
            int held = PyDict_Contains(fds, res);
            if (held < 0)
                return -1;
            full = !held;
        }
        PyObject *fd = self->fd_type->tp_alloc(self->fd_type, 0);
        if (fd == NULL)
            return -1;
        PyObject *values[6] = {res, (bits & self->o_directory) ? self->dir_type : self->file_type,
                               name, flags, dev && PyLong_Check(dev) ? dev : self->zero,
                               ino && PyLong_Check(ino) ? ino : self->zero};
        for (int i = 0; i < 6; i++)
            AT(fd, self->fd[i]) = Py_NewRef(values[i]);
        for (Py_ssize_t i = 6; i < self->nfd; i++)
            AT(fd, self->fd[i]) = Py_NewRef(PyTuple_GET_ITEM(self->fd_defaults, i - 6));
        if (full) {
            PyObject *dropped = AT(self->limiter, self->lim_dropped);
            PyObject *more = dropped ? PyNumber_Add(dropped, self->one) : NULL;
            if (more == NULL) {
                Py_DECREF(fd);
                return -1;
            }
            Py_XDECREF(AT(self->limiter, self->lim_dropped));
            AT(self->limiter, self->lim_dropped) = more;
        } else if (PyDict_SetItem(fds, res, fd) < 0) {
            Py_DECREF(fd);
            return -1;
        }
        put_slot(event, self->ev[S_THREAD], thread);
        put_slot(event, self->ev[S_FD], fd);
        Py_DECREF(fd);
    } else { /* on_close */
        PyObject *num = PyDict_GetItemWithError(params, self->k_fd);
        if (num == NULL || !PyLong_Check(num))
            return PyErr_Occurred() ? -1 : 0; /* absent (its enter event's) or odd */
        int rs = res == Py_None ? 0 : sign_of(res);
        if (rs == 2)
            return 0;
        PyObject *fd = PyDict_GetItemWithError(fds, num);
        if (fd == NULL)
            return PyErr_Occurred() ? -1 : 0; /* unknown: the fd-less tail stays in Python */
        Py_INCREF(fd);
        put_slot(event, self->ev[S_THREAD], thread);
        put_slot(event, self->ev[S_FD], fd);
        if (rs >= 0 && PyDict_DelItem(fds, num) < 0) {
            Py_DECREF(fd);
            return -1;
        }
        Py_DECREF(fd);
    }
    /* apply's tail: the pid, then lastevent_fd from the event's fd */
    truth = PyObject_IsTrue(AT(event, self->ev[S_PID]));
    if (truth < 0)
        return -1;
    if (!truth)
        put_slot(event, self->ev[S_PID], AT(thread, self->th[T_PID]));
    put_slot(thread, self->th[T_LASTFD], AT(AT(event, self->ev[S_FD]), self->fd[0]));
    self->handled++; /* SensorState.events adds it to the Python method's count */
    return 1;
}

static PyObject *fast_call(StateFast *self, PyObject *const *args, size_t nargsf,
                           PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "StateFast(event) takes one event");
        return NULL;
    }
    int done = fast_apply(self, args[0]);
    if (done < 0)
        return NULL;
    if (done)
        Py_RETURN_NONE;
    return PyObject_Vectorcall(self->slow, args, 1, NULL);
}

static PyObject *fast_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                                 PyObject *kwnames)
{
    return fast_call((StateFast *)callable, args, nargsf, kwnames);
}

static PyObject *fast_handled(StateFast *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(self->handled);
}

static PyGetSetDef fast_getset[] = {
    {"handled", (getter)fast_handled, NULL, "events applied here, not by `slow`", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject StateFastType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bastion_decode_accel.StateFast",
    .tp_basicsize = sizeof(StateFast),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "StateFast(...)(event): SensorState.apply's common case (see accel.c)",
    .tp_new = fast_new,
    .tp_dealloc = (destructor)fast_dealloc,
    .tp_traverse = (traverseproc)fast_traverse,
    .tp_clear = (inquiry)fast_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(StateFast, vectorcall),
    .tp_getset = fast_getset,
};

/* OpenGuard(slow, verdicts, param, Event, Fd, exit_dir)(event) -> hits or None
 *
 * The front of an open-family matcher behind the verdicts kept per opened file
 * (bastion/sensor/open_verdicts.py): for the exit of an open holding a known fd and thread, it
 * builds the very key the Python wrapper builds, (fd.name, fd.type, params.get(param),
 * params.get("flags"), params.get("mode"), res is not None and res >= 0), and when `verdicts`
 * says True for it (no loaded rule can match such an open) answers None without a Python frame;
 * any other event, key or value (an unset slot, a result that is no int) goes to `slow`, the
 * Python wrapper, which decides and judges as it always does. It counts what it skipped in
 * `skipped`. tests/unit/sensor/test_open_verdicts.py runs every comparison with and without it. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *slow, *verdicts, *param, *exit_dir, *k_flags, *k_mode;
    Py_ssize_t ev_dir, ev_fd, ev_thread, ev_params, ev_res, fd_name, fd_type;
    unsigned long long skipped;
} OpenGuard;

static int guard_traverse(OpenGuard *self, visitproc visit, void *arg)
{
    Py_VISIT(self->slow);
    Py_VISIT(self->verdicts);
    return 0;
}

static int guard_clear(OpenGuard *self)
{
    Py_CLEAR(self->slow);
    Py_CLEAR(self->verdicts);
    Py_CLEAR(self->param);
    Py_CLEAR(self->exit_dir);
    Py_CLEAR(self->k_flags);
    Py_CLEAR(self->k_mode);
    return 0;
}

static void guard_dealloc(OpenGuard *self)
{
    PyObject_GC_UnTrack(self);
    guard_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *guard_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                                  PyObject *kwnames);

static PyObject *guard_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *slow, *verdicts, *param, *event_t, *fd_t, *exit_dir;
    if (!PyArg_ParseTuple(args, "OO!UO!O!U", &slow, &PyDict_Type, &verdicts, &param,
                          &PyType_Type, &event_t, &PyType_Type, &fd_t, &exit_dir))
        return NULL;
    OpenGuard *self = (OpenGuard *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->slow = Py_NewRef(slow);
    self->verdicts = Py_NewRef(verdicts);
    self->param = Py_NewRef(param);
    self->exit_dir = Py_NewRef(exit_dir);
    self->vectorcall = guard_vectorcall;
    if ((self->k_flags = PyUnicode_InternFromString("flags")) == NULL ||
        (self->k_mode = PyUnicode_InternFromString("mode")) == NULL ||
        slot_offset(event_t, "dir", &self->ev_dir) < 0 ||
        slot_offset(event_t, "fd", &self->ev_fd) < 0 ||
        slot_offset(event_t, "thread", &self->ev_thread) < 0 ||
        slot_offset(event_t, "params", &self->ev_params) < 0 ||
        slot_offset(event_t, "res", &self->ev_res) < 0 ||
        slot_offset(fd_t, "name", &self->fd_name) < 0 ||
        slot_offset(fd_t, "type", &self->fd_type) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* the value of params.get(key): a borrowed reference, Py_None when absent; NULL on an error */
static PyObject *param_or_none(PyObject *params, PyObject *key)
{
    PyObject *value = PyDict_GetItemWithError(params, key);
    if (value == NULL && !PyErr_Occurred())
        return Py_None;
    return value;
}

/* 1: skip (no rule can match); 0: ask `slow`; -1: an error is set */
static int guard_skips(OpenGuard *self, PyObject *event)
{
    PyObject *fd = AT(event, self->ev_fd), *thread = AT(event, self->ev_thread);
    PyObject *dir = AT(event, self->ev_dir), *params = AT(event, self->ev_params);
    PyObject *res = AT(event, self->ev_res);
    if (fd == NULL || fd == Py_None || thread == NULL || thread == Py_None || dir == NULL ||
        params == NULL || !PyDict_CheckExact(params) || res == NULL)
        return 0;
    if (dir != self->exit_dir) {
        if (!PyUnicode_Check(dir))
            return 0;
        int same = PyUnicode_Compare(dir, self->exit_dir);
        if (same == -1 && PyErr_Occurred())
            return -1;
        if (same != 0)
            return 0;
    }
    int done;
    if (res == Py_None)
        done = 0;
    else {
        int sign = sign_of(res);
        if (sign == 2)
            return 0; /* not an int: the Python wrapper compares it */
        done = sign >= 0;
    }
    PyObject *name = AT(fd, self->fd_name), *kind = AT(fd, self->fd_type);
    if (name == NULL || kind == NULL)
        return 0;
    PyObject *raw = param_or_none(params, self->param);
    PyObject *flags = raw ? param_or_none(params, self->k_flags) : NULL;
    PyObject *mode = flags ? param_or_none(params, self->k_mode) : NULL;
    if (mode == NULL)
        return -1;
    PyObject *key = PyTuple_Pack(6, name, kind, raw, flags, mode, done ? Py_True : Py_False);
    if (key == NULL)
        return -1;
    PyObject *verdict = PyDict_GetItemWithError(self->verdicts, key);
    Py_DECREF(key);
    if (verdict == NULL)
        return PyErr_Occurred() ? -1 : 0;
    return verdict == Py_True;
}

static PyObject *guard_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                                  PyObject *kwnames)
{
    OpenGuard *self = (OpenGuard *)callable;
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "OpenGuard(event) takes one event");
        return NULL;
    }
    int skip = guard_skips(self, args[0]);
    if (skip < 0)
        return NULL;
    if (skip) {
        self->skipped++;
        Py_RETURN_NONE;
    }
    return PyObject_Vectorcall(self->slow, args, 1, NULL);
}

static PyObject *guard_skipped(OpenGuard *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(self->skipped);
}

static PyGetSetDef guard_getset[] = {
    {"skipped", (getter)guard_skipped, NULL, "events answered None here, without `slow`", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject OpenGuardType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bastion_decode_accel.OpenGuard",
    .tp_basicsize = sizeof(OpenGuard),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "OpenGuard(...)(event): an open matcher's verdict lookup (see accel.c)",
    .tp_new = guard_new,
    .tp_dealloc = (destructor)guard_dealloc,
    .tp_traverse = (traverseproc)guard_traverse,
    .tp_clear = (inquiry)guard_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(OpenGuard, vectorcall),
    .tp_getset = guard_getset,
};

/* feed_loop(events, apply, quiet, tables, directed, one, hit, Event, exit_dir, enter_dir,
 *           Thread) -> the number of events
 *
 * Pipeline.feed's loop in C (bastion/sensor/pipeline.py): for each event, `apply(event)`; then,
 * when `quiet` (the pipeline's event type -> no rule takes it) says True, nothing more; when it
 * says False, the matcher the engine already made for the event's type (and direction when
 * `directed`: `tables` is the engine's (exit, enter, any) tables, read as RuleEngine.match reads
 * them) is called, and a non-empty answer goes to `hit(event, hits)`; anything else (a type
 * `quiet` does not know yet, a matcher not made yet, an unset slot) goes to `one(event)`, the
 * pipeline's own per-event path. With `Thread` (a type, not None) the rules see container
 * threads only, as Pipeline._container_match: an event whose thread is None or has an empty
 * container_id meets no matcher. Errors propagate as the Python loop's do.
 * tests/unit/sensor/test_pipeline_loop.py holds it to the Python loop. */
static PyObject *feed_loop(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11 || !PyDict_Check(args[2]) || !PyTuple_Check(args[3]) ||
        PyTuple_GET_SIZE(args[3]) != 3 || !PyType_Check(args[7]) ||
        (args[10] != Py_None && !PyType_Check(args[10]))) {
        PyErr_SetString(PyExc_TypeError, "feed_loop(events, apply, quiet, (exit, enter, any), "
                                         "directed, one, hit, Event, exit_dir, enter_dir, "
                                         "Thread or None)");
        return NULL;
    }
    PyObject *apply = args[1], *quiet = args[2], *one = args[5], *hit = args[6];
    PyObject *exit_dir = args[8], *enter_dir = args[9];
    PyObject *by_dir[3];
    for (int i = 0; i < 3; i++) {
        by_dir[i] = PyTuple_GET_ITEM(args[3], i);
        if (!PyDict_Check(by_dir[i])) {
            PyErr_SetString(PyExc_TypeError, "feed_loop: the engine's tables are dicts");
            return NULL;
        }
    }
    int directed = PyObject_IsTrue(args[4]);
    if (directed < 0)
        return NULL;
    Py_ssize_t off_type, off_dir, off_thread = 0, off_container = 0;
    int containers_only = args[10] != Py_None;
    if (slot_offset(args[7], "type", &off_type) < 0 || slot_offset(args[7], "dir", &off_dir) < 0)
        return NULL;
    if (containers_only && (slot_offset(args[7], "thread", &off_thread) < 0 ||
                            slot_offset(args[10], "container_id", &off_container) < 0))
        return NULL;
    PyObject *it = PyObject_GetIter(args[0]);
    if (it == NULL)
        return NULL;
    long long count = 0;
    PyObject *event;
    while ((event = PyIter_Next(it)) != NULL) {
        count++;
        PyObject *r = PyObject_Vectorcall(apply, &event, 1, NULL);
        if (r == NULL)
            goto fail;
        Py_DECREF(r);
        PyObject *matcher = NULL;
        PyObject *kind = Py_TYPE(event) == (PyTypeObject *)args[7] ? AT(event, off_type) : NULL;
        if (kind != NULL) {
            PyObject *idle = PyDict_GetItemWithError(quiet, kind);
            if (idle == Py_True) {
                Py_DECREF(event);
                continue;
            }
            if (idle == Py_False && containers_only) {
                /* Pipeline._container_match: a thread with no container meets no rules */
                PyObject *thread = AT(event, off_thread), *cid = NULL;
                if (thread != NULL && thread != Py_None &&
                    Py_TYPE(thread) == (PyTypeObject *)args[10])
                    cid = AT(thread, off_container);
                int placed = cid == NULL ? 0 : PyObject_IsTrue(cid);
                if (placed < 0)
                    goto fail;
                if (thread == Py_None || (cid != NULL && !placed)) {
                    Py_DECREF(event);
                    continue;
                }
                if (cid == NULL)
                    idle = NULL; /* unset, or not a Thread: the Python path decides */
            }
            if (idle == Py_False) {
                PyObject *table = by_dir[2];
                if (directed) { /* RuleEngine.match: "<", ">", else the any-direction table */
                    PyObject *dir = AT(event, off_dir);
                    if (dir == exit_dir)
                        table = by_dir[0];
                    else if (dir == enter_dir)
                        table = by_dir[1];
                    else if (dir != NULL && PyUnicode_Check(dir))
                        table = !PyUnicode_Compare(dir, exit_dir)    ? by_dir[0]
                                : !PyUnicode_Compare(dir, enter_dir) ? by_dir[1]
                                                                     : by_dir[2];
                    else
                        table = NULL; /* unset, or no str: RuleEngine.match decides */
                }
                if (table != NULL)
                    matcher = PyDict_GetItemWithError(table, kind);
            }
            if (PyErr_Occurred())
                goto fail;
        }
        if (matcher == NULL) {
            r = PyObject_Vectorcall(one, &event, 1, NULL);
            if (r == NULL)
                goto fail;
            Py_DECREF(r);
            Py_DECREF(event);
            continue;
        }
        Py_INCREF(matcher); /* the call may change the table */
        PyObject *hits = PyObject_Vectorcall(matcher, &event, 1, NULL);
        Py_DECREF(matcher);
        if (hits == NULL)
            goto fail;
        int some = hits == Py_None ? 0 : PyObject_IsTrue(hits);
        if (some > 0) {
            PyObject *pair[2] = {event, hits};
            r = PyObject_Vectorcall(hit, pair, 2, NULL);
            if (r == NULL)
                some = -1;
            Py_XDECREF(r);
        }
        Py_DECREF(hits);
        if (some < 0)
            goto fail;
        Py_DECREF(event);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    return PyLong_FromLongLong(count);
fail:
    Py_DECREF(event);
    Py_DECREF(it);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"ring_read", ring_read, METH_VARARGS,
     "ring_read(data, cons, prod, mask, max_records) -> (records, cons, discarded)"},
    {"ring_extent", ring_extent, METH_VARARGS,
     "ring_extent(data, cons, prod, mask, max_bytes) -> (cons, count, last, discarded)"},
    {"split_chunk", split_chunk, METH_O, "split_chunk(chunk) -> list of records"},
    {"feed_loop", (PyCFunction)(void (*)(void))feed_loop, METH_FASTCALL,
     "feed_loop(events, apply, quiet, tables, directed, one, hit, Event, exit_dir, enter_dir) "
     "-> count"},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef decoder_methods[] = {
    {"decode", (PyCFunction)(void (*)(void))decoder_decode, METH_FASTCALL,
     "decode(records, num, epoch) -> list of Event; ValueError on a record that breaks the "
     "format"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BatchDecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bastion_decode_accel.BatchDecoder",
    .tp_basicsize = sizeof(BatchDecoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "BatchDecoder(Event, exit_dir, layouts): probe records -> Events",
    .tp_new = decoder_new,
    .tp_dealloc = (destructor)decoder_dealloc,
    .tp_methods = decoder_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "bastion_decode_accel",
    "The probe decoder's and ring reader's compiled twins (bastion.sensor.probe.accel).", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit_bastion_decode_accel(void)
{
    if (PyType_Ready(&BatchDecoderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "BatchDecoder", (PyObject *)&BatchDecoderType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyType_Ready(&StateFastType) < 0 ||
        PyModule_AddObjectRef(m, "StateFast", (PyObject *)&StateFastType) < 0 ||
        PyType_Ready(&OpenGuardType) < 0 ||
        PyModule_AddObjectRef(m, "OpenGuard", (PyObject *)&OpenGuardType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "KINDS", K_COUNT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
