/* A dial string's E.164 key for the usual shapes: matcher.phones.PhoneNormaliser.python_fast_key,
 * which stays the reference and the fallback (tests/matcher/test_speedups.py holds the two equal),
 * for profiles whose dialable numbers start with one of a set of bytes (GB: "+" or "0"). */
#include "_speedups.h"

#include <string.h>

#define PHONE_MAX_INPUT 64 /* matcher.phones.MAX_INPUT_CHARS */
#define PHONE_MAX_DEPTH 4  /* matcher.phones.MAX_PREFIX_DEPTH */

enum { REGION_NONE = 0, REGION_GB = 1, REGION_US = 2 };

static PyObject *
ascii_key(const char *head, Py_ssize_t head_len, const char *digits, Py_ssize_t len)
{
    PyObject *key = PyUnicode_New(head_len + len, 127);
    if (key == NULL) {
        return NULL;
    }
    memcpy(PyUnicode_1BYTE_DATA(key), head, (size_t)head_len);
    memcpy(PyUnicode_1BYTE_DATA(key) + head_len, digits, (size_t)len);
    return key;
}

/* c is "+" and n - 1 >= 1 digits: _international_shape */
static PyObject *
international_shape(const char *c, Py_ssize_t n)
{
    if (n == 13 && c[1] == '4' && c[2] == '4' && c[3] != '0') {
        return ascii_key("", 0, c, n);
    }
    if (n == 14 && c[1] == '4' && c[2] == '4' && c[3] == '0' && c[4] != '0') {
        return ascii_key("+44", 3, c + 4, n - 4);
    }
    if (n == 12 && c[1] == '1' && c[2] >= '2') {
        return ascii_key("", 0, c, n);
    }
    Py_RETURN_NONE;
}

/* c is n >= 1 digits: _gb_national */
static PyObject *
gb_national(const char *c, Py_ssize_t n)
{
    if (n < 10) {
        Py_RETURN_NONE;
    }
    if (c[0] == '0') {
        if (n == 11 && c[1] != '0') {
            return ascii_key("+44", 3, c + 1, n - 1);
        }
        if (c[1] == '0') {
            if (n == 14 && c[2] == '4' && c[3] == '4' && c[4] != '0') {
                return ascii_key("+44", 3, c + 4, n - 4);
            }
            if (n == 15 && c[2] == '4' && c[3] == '4' && c[4] == '0' && c[5] != '0') {
                return ascii_key("+44", 3, c + 5, n - 5);
            }
            if (n == 13 && c[2] == '1' && c[3] >= '2') {
                return ascii_key("+1", 2, c + 3, n - 3);
            }
        }
        Py_RETURN_NONE;
    }
    if (c[0] == '4' && c[1] == '4') {
        if (n == 12 && c[2] != '0') {
            return ascii_key("+", 1, c, n);
        }
        if (n == 13 && c[2] == '0' && c[3] != '0') {
            return ascii_key("+44", 3, c + 3, n - 3);
        }
        Py_RETURN_NONE;
    }
    if (n == 10) {
        return ascii_key("+44", 3, c, n);
    }
    Py_RETURN_NONE;
}

/* c is n >= 1 digits: _us_national */
static PyObject *
us_national(const char *c, Py_ssize_t n)
{
    if (n == 10 && c[0] >= '2') {
        return ascii_key("+1", 2, c, n);
    }
    if (n == 11 && c[0] == '1' && c[1] >= '2') {
        return ascii_key("+", 1, c, n);
    }
    if (n >= 3 && c[0] == '0' && c[1] == '1' && c[2] == '1') {
        if (n == 14 && c[3] == '1' && c[4] >= '2') {
            return ascii_key("+1", 2, c + 4, n - 4);
        }
        if (n == 15 && c[3] == '4' && c[4] == '4' && c[5] != '0') {
            return ascii_key("+44", 3, c + 5, n - 5);
        }
        if (n == 16 && c[3] == '4' && c[4] == '4' && c[5] == '0' && c[6] != '0') {
            return ascii_key("+44", 3, c + 6, n - 6);
        }
    }
    Py_RETURN_NONE;
}

/* _strip_stack for digits only (a prefix holding * or # never matches them): the offset of the
 * first dialable rest reached through up to `depth` stacked prefixes, in the profile's prefix
 * order, depth first; -1 if none. A prefix item that is not bytes is an error (-2). */
static Py_ssize_t
strip_stack(const char *c, Py_ssize_t n, PyObject *prefixes, const char *heads, Py_ssize_t heads_len,
            int depth)
{
    if (n == 0) {
        return -1;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(prefixes);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *prefix = PyTuple_GET_ITEM(prefixes, i);
        if (!PyBytes_Check(prefix)) {
            PyErr_SetString(PyExc_TypeError, "phone_key: prefixes must be a tuple of bytes");
            return -2;
        }
        Py_ssize_t plen = PyBytes_GET_SIZE(prefix);
        if (plen == 0 || plen > n || memcmp(PyBytes_AS_STRING(prefix), c, (size_t)plen) != 0) {
            continue;
        }
        if (plen < n && memchr(heads, c[plen], (size_t)heads_len) != NULL) {
            return plen;
        }
        if (depth > 1) {
            Py_ssize_t deeper = strip_stack(c + plen, n - plen, prefixes, heads, heads_len, depth - 1);
            if (deeper == -2) {
                return -2;
            }
            if (deeper >= 0) {
                return plen + deeper;
            }
        }
    }
    return -1;
}

const char phone_key_doc[] = PyDoc_STR(
    "phone_key(raw, rules, /)\n--\n\n"
    "matcher.phones.PhoneNormaliser.python_fast_key(raw) under rules = (region, heads, prefixes):\n"
    "region 1 for GB's national shapes, 2 for the US's, 0 for none; heads, the bytes a dialable\n"
    "number starts with; prefixes, the dial prefixes as bytes in the profile's order. The E.164 key,\n"
    "or None where the Python fast path gives None (then the slow path decides).");

PyObject *
phone_key(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "phone_key expects (raw, rules)");
        return NULL;
    }
    PyObject *raw = args[0], *rules = args[1];
    if (!PyUnicode_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "phone_key: raw must be str");
        return NULL;
    }
    if (!PyTuple_Check(rules) || PyTuple_GET_SIZE(rules) != 3 || !PyLong_Check(PyTuple_GET_ITEM(rules, 0)) ||
        !PyBytes_Check(PyTuple_GET_ITEM(rules, 1)) || !PyTuple_Check(PyTuple_GET_ITEM(rules, 2))) {
        PyErr_SetString(PyExc_TypeError, "phone_key: rules must be (int, bytes, tuple of bytes)");
        return NULL;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(raw);
    if (len > PHONE_MAX_INPUT || !PyUnicode_IS_ASCII(raw)) {
        Py_RETURN_NONE;
    }
    const char *text = (const char *)PyUnicode_1BYTE_DATA(raw);
    char c[PHONE_MAX_INPUT + 1];
    Py_ssize_t n = 0;
    int plus = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        char ch = text[i];
        if (ch >= '0' && ch <= '9') {
            c[n++] = ch;
        }
        else if (ch == ' ' || ch == '-' || ch == '.' || ch == '/' || ch == '(' || ch == ')' || ch == '\t') {
            continue;
        }
        else if (ch == '+' && n == 0 && !plus) {
            plus = 1;
            c[n++] = ch;
        }
        else {
            Py_RETURN_NONE;
        }
    }
    if (n == plus) { /* nothing, or a lone "+" */
        Py_RETURN_NONE;
    }
    if (plus) {
        return international_shape(c, n);
    }
    long region = PyLong_AsLong(PyTuple_GET_ITEM(rules, 0));
    if (region == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (region != REGION_GB && region != REGION_US) {
        Py_RETURN_NONE;
    }
    PyObject *heads_obj = PyTuple_GET_ITEM(rules, 1);
    const char *heads = PyBytes_AS_STRING(heads_obj);
    Py_ssize_t heads_len = PyBytes_GET_SIZE(heads_obj);
    Py_ssize_t start = 0;
    if (memchr(heads, c[0], (size_t)heads_len) == NULL) {
        start = strip_stack(c, n, PyTuple_GET_ITEM(rules, 2), heads, heads_len, PHONE_MAX_DEPTH);
        if (start == -2) {
            return NULL;
        }
        if (start < 0) {
            start = 0;
        }
    }
    return region == REGION_GB ? gb_national(c + start, n - start) : us_national(c + start, n - start);
}
