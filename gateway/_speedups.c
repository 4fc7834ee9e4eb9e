/* The call-screening body read in C.
 *
 * A PBX sends {"establishment": "HLI", "prisoner": "A1234BC", "number": "07911 123456"} before
 * every call. orjson builds a dict for it and the handler then takes the three values out and
 * checks the keys, a measurable part of every allowed call. `call_fields` reads that one shape
 * straight from the bytes.
 *
 * It answers only for a strict subset of JSON: one object holding exactly the keys
 * "establishment", "prisoner" and "number", once each and in any order, each value a string of
 * printable ASCII without escapes, with JSON whitespace anywhere between tokens and nothing
 * after the object. For such a body the three strings are exactly what orjson.loads gives. For
 * anything else it returns None and the caller parses the body with orjson as before, so every
 * error message and every unusual but valid body (escapes, non-ASCII, other keys) stays the
 * Python path's. tests/gateway/test_speedups.py holds the two equal on generated bodies.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static const struct {
    const char *name;
    Py_ssize_t len;
} KEYS[3] = {{"establishment", 13}, {"prisoner", 8}, {"number", 6}};

static inline const unsigned char *
skip_space(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }
    return p;
}

/* p is just past an opening quote: the end of a string of printable ASCII without escapes (the
 * closing quote), or NULL */
static inline const unsigned char *
plain_string(const unsigned char *p, const unsigned char *end)
{
    while (p < end) {
        unsigned char ch = *p;
        if (ch == '"') {
            return p;
        }
        if (ch < 0x20 || ch > 0x7e || ch == '\\') {
            return NULL;
        }
        p++;
    }
    return NULL;
}

PyDoc_STRVAR(call_fields_doc,
"call_fields(body, /)\n--\n\n"
"(establishment, prisoner, number) of a call-screening body that is exactly an object of those\n"
"three keys with plain printable-ASCII string values; None for any other body (then parse it\n"
"with orjson).");

static PyObject *
call_fields(PyObject *self, PyObject *body)
{
    (void)self;
    if (!PyBytes_Check(body)) {
        PyErr_SetString(PyExc_TypeError, "call_fields: body must be bytes");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(body);
    const unsigned char *end = p + PyBytes_GET_SIZE(body);
    const unsigned char *start[3] = {NULL, NULL, NULL};
    Py_ssize_t length[3] = {0, 0, 0};

    p = skip_space(p, end);
    if (p == end || *p++ != '{') {
        Py_RETURN_NONE;
    }
    for (int field = 0; field < 3; field++) {
        p = skip_space(p, end);
        if (p == end || *p++ != '"') {
            Py_RETURN_NONE;
        }
        const unsigned char *key_end = plain_string(p, end);
        if (key_end == NULL) {
            Py_RETURN_NONE;
        }
        int which = -1;
        for (int k = 0; k < 3; k++) {
            if (key_end - p == KEYS[k].len && memcmp(p, KEYS[k].name, (size_t)KEYS[k].len) == 0) {
                which = k;
                break;
            }
        }
        if (which < 0 || start[which] != NULL) { /* another key, or one given twice */
            Py_RETURN_NONE;
        }
        p = skip_space(key_end + 1, end);
        if (p == end || *p++ != ':') {
            Py_RETURN_NONE;
        }
        p = skip_space(p, end);
        if (p == end || *p++ != '"') {
            Py_RETURN_NONE;
        }
        const unsigned char *value_end = plain_string(p, end);
        if (value_end == NULL) {
            Py_RETURN_NONE;
        }
        start[which] = p;
        length[which] = value_end - p;
        p = skip_space(value_end + 1, end);
        if (p == end || *p++ != (field < 2 ? ',' : '}')) {
            Py_RETURN_NONE;
        }
    }
    if (skip_space(p, end) != end) {
        Py_RETURN_NONE;
    }
    PyObject *out = PyTuple_New(3);
    if (out == NULL) {
        return NULL;
    }
    for (int k = 0; k < 3; k++) {
        PyObject *value = PyUnicode_New(length[k], 127);
        if (value == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        memcpy(PyUnicode_1BYTE_DATA(value), start[k], (size_t)length[k]);
        PyTuple_SET_ITEM(out, k, value);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"call_fields", call_fields, METH_O, call_fields_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gateway._speedups",
    .m_doc = "Compiled hot paths of the gateway; each has a Python path it is tested against.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&module);
}
