/* bastion._sys._native: the raw syscalls of a container's start path, without ctypes.
 *
 * `import ctypes` (with _ctypes, libffi, struct and types) costs ~2-3 ms of every bastion-runc
 * process that needs a syscall Python has no wrapper for (clone3, mount, pivot_root, capset,
 * prctl...): the biggest single import of `create`. This module offers the two primitives the
 * wrappers in bastion/_sys need, and nothing else:
 *
 *   syscall(number, *args) -> int     up to 6 arguments: int (passed as a long; negative values
 *                                      as two's complement), None (NULL), bytes (a read-only
 *                                      pointer) or bytearray (a writable pointer). -1 from the
 *                                      kernel raises OSError(errno).
 *   clone3(flags, cgroup_fd) -> int   fork(2) through clone3 with `flags`, into the cgroup2
 *                                      directory open at `cgroup_fd` (CLONE_INTO_CGROUP) unless it
 *                                      is -1, running the interpreter's fork hooks as os.fork does.
 *   spawn_init(...), init_left(...),  the container's init as compiled code (_initexec.c, built
 *   spawn_regions(), SHARED_MEMORY     into this module: one shared object to load, not two).
 *
 * scripts/setup builds it; bastion/_sys/libc.py falls back to ctypes where it is absent (the
 * tests run both ways: BASTION_TEST_NO_NATIVE=1).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>


/* _initexec.c: clone3 into a cgroup2 directory (-1: none), SIGCHLD to the parent */
long bastion_clone_into(uint64_t flags, int cgroup_fd);

/* One argument as a machine word; 0 on success, -1 with a Python exception set. */
static int word(PyObject *arg, long *out) {
    if (arg == Py_None) {
        *out = 0;
    } else if (PyLong_Check(arg)) {
        *out = (long)PyLong_AsUnsignedLongMask(arg);
        if (*out == -1 && PyErr_Occurred())
            return -1;
    } else if (PyBytes_Check(arg)) {
        *out = (long)(intptr_t)PyBytes_AS_STRING(arg);
    } else if (PyByteArray_Check(arg)) {
        *out = (long)(intptr_t)PyByteArray_AS_STRING(arg);
    } else {
        PyErr_Format(PyExc_TypeError, "syscall argument must be int, None, bytes or bytearray, not %s",
                     Py_TYPE(arg)->tp_name);
        return -1;
    }
    return 0;
}

static PyObject *native_syscall(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    long w[7] = {0};
    if (nargs < 1 || nargs > 7) {
        PyErr_SetString(PyExc_TypeError, "syscall(number, *args) takes 1 to 7 arguments");
        return NULL;
    }
    if (!PyLong_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "syscall number must be an int");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        if (word(args[i], &w[i]) < 0)
            return NULL;
    /* The buffers stay referenced by `args` for the whole call; the GIL is kept: these calls
     * are short and the callers (create, the init) have a single thread. */
    long result = syscall(w[0], w[1], w[2], w[3], w[4], w[5], w[6]);
    if (result == -1)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(result);
}

static PyObject *native_clone3(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "clone3(flags, cgroup_fd) takes 2 arguments");
        return NULL;
    }
    unsigned long long flags = PyLong_AsUnsignedLongLongMask(args[0]);
    if (flags == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    long cgroup_fd = PyLong_AsLong(args[1]);
    if (cgroup_fd == -1 && PyErr_Occurred())
        return NULL;
    /* os.fork's sequence: the hooks hold the import lock and the thread states consistent */
    PyOS_BeforeFork();
    long pid = bastion_clone_into(flags, (int)cgroup_fd);
    if (pid == 0) {
        PyOS_AfterFork_Child();
        return PyLong_FromLong(0);
    }
    int err = errno;
    PyOS_AfterFork_Parent();
    if (pid == -1) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(pid);
}

/* _initexec.c, built into this module */
PyObject *bastion_spawn_init(PyObject *self, PyObject *args);
PyObject *bastion_init_left(PyObject *self, PyObject *args);
PyObject *bastion_spawn_regions(PyObject *self, PyObject *args);
int bastion_shared_memory(void);

static PyMethodDef methods[] = {
    {"syscall", (PyCFunction)(void (*)(void))native_syscall, METH_FASTCALL,
     "syscall(number, *args) -> int: a raw syscall; OSError on -1."},
    {"clone3", (PyCFunction)(void (*)(void))native_clone3, METH_FASTCALL,
     "clone3(flags, cgroup_fd) -> int: fork through clone3, the fork hooks run as os.fork's."},
    {"spawn_init", bastion_spawn_init, METH_VARARGS,
     "spawn_init(plan, flags, cgroup_fd, chan_fd, shared=False) -> (pid, born_in_cgroup2, "
     "handle): clone the container's init, which runs `plan` and execs (see _initexec.c)."},
    {"init_left", bastion_init_left, METH_VARARGS,
     "init_left(handle, timeout) -> bool: whether the shared init of `handle` has exec'd or "
     "died, waiting up to `timeout` seconds."},
    {"spawn_regions", bastion_spawn_regions, METH_NOARGS,
     "spawn_regions() -> int: how many shared inits may still run in this process's memory."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "bastion._sys._native",
    "The raw syscalls of a container's start path, without ctypes (see _native.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m = PyModule_Create(&module);
    /* whether spawn_init can share the caller's memory (x86_64) */
    if (m != NULL && PyModule_AddIntConstant(m, "SHARED_MEMORY", bastion_shared_memory()) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
