/* The postings of every indexed phrase present in a letter's words: matcher.phrases.GramPhrases
 * .find_words over its tables, which stays the reference and the fallback
 * (tests/matcher/test_speedups.py holds the two equal). */
#include "_speedups.h"

#include <string.h>

/* " ".join(tokens[start:start + length]) */
static PyObject *
joined(PyObject **tokens, Py_ssize_t start, Py_ssize_t length)
{
    Py_ssize_t size = length - 1;
    int ascii = 1;
    for (Py_ssize_t i = start; i < start + length; i++) {
        size += PyUnicode_GET_LENGTH(tokens[i]);
        ascii &= PyUnicode_IS_ASCII(tokens[i]);
    }
    if (!ascii) {
        PyObject *space = PyUnicode_FromOrdinal(' ');
        PyObject *slice = space == NULL ? NULL : PyTuple_New(length);
        if (slice == NULL) {
            Py_XDECREF(space);
            return NULL;
        }
        for (Py_ssize_t i = 0; i < length; i++) {
            PyTuple_SET_ITEM(slice, i, Py_NewRef(tokens[start + i]));
        }
        PyObject *result = PyUnicode_Join(space, slice);
        Py_DECREF(space);
        Py_DECREF(slice);
        return result;
    }
    PyObject *result = PyUnicode_New(size, 127);
    if (result == NULL) {
        return NULL;
    }
    char *out = (char *)PyUnicode_DATA(result);
    for (Py_ssize_t i = start; i < start + length; i++) {
        if (i > start) {
            *out++ = ' ';
        }
        Py_ssize_t part = PyUnicode_GET_LENGTH(tokens[i]);
        memcpy(out, PyUnicode_DATA(tokens[i]), part);
        out += part;
    }
    return result;
}

/* shards[hash(key) % len(shards)].get(key) appended to `found` when present; -1 on error. */
static int
look_up(PyObject *found, PyObject *shards, PyObject *key)
{
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1) {
        return -1;
    }
    PyObject *shard = PyTuple_GET_ITEM(shards, shard_of(hash, PyTuple_GET_SIZE(shards)));
    PyObject *value = PyDict_GetItemWithError(shard, key);
    if (value == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return PyList_Append(found, value);
}

/* pair in pairs[hash(pair) % len(pairs)]: 1, 0, or -1 on error */
static int
pair_known(PyObject *pairs, PyObject *pair)
{
    Py_hash_t hash = PyObject_Hash(pair);
    if (hash == -1) {
        return -1;
    }
    return PySet_Contains(PyTuple_GET_ITEM(pairs, shard_of(hash, PyTuple_GET_SIZE(pairs))), pair);
}

static int
check_shards(PyObject *shards, PyObject *pairs)
{
    if (!PyTuple_CheckExact(shards) || !PyTuple_CheckExact(pairs) || PyTuple_GET_SIZE(shards) == 0
        || PyTuple_GET_SIZE(pairs) != PyTuple_GET_SIZE(shards)) {
        PyErr_SetString(PyExc_TypeError, "shards and pairs: tuples of one size");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(shards); i++) {
        if (!PyDict_CheckExact(PyTuple_GET_ITEM(shards, i))
            || !PyAnySet_CheckExact(PyTuple_GET_ITEM(pairs, i))) {
            PyErr_SetString(PyExc_TypeError, "shards hold dicts and pairs sets");
            return -1;
        }
    }
    return 0;
}

/* The postings of every phrase starting at `at`, in ascending length (GramPhrases.find_words). */
static int
phrases_at(PyObject *found, PyObject **tokens, Py_ssize_t count, Py_ssize_t at, PyObject *lengths,
           PyObject *shards, PyObject *pairs)
{
    PyObject *word = tokens[at];
    Py_ssize_t last = count - 1;
    int pair_checked = 0;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(lengths); k++) {
        Py_ssize_t length = PyLong_AsSsize_t(PyTuple_GET_ITEM(lengths, k));
        if (length == -1 && PyErr_Occurred()) {
            return -1;
        }
        PyObject *key;
        if (length == 1) {
            key = Py_NewRef(word);
        }
        else if (length < 1 || at + length - 1 > last) {
            break;
        }
        else {
            if (length > 2 && !pair_checked) {
                PyObject *pair = joined(tokens, at, 2);
                if (pair == NULL) {
                    return -1;
                }
                int known = pair_known(pairs, pair);
                Py_DECREF(pair);
                if (known <= 0) {
                    return known; /* no phrase starts with these two words (or an error) */
                }
                pair_checked = 1;
            }
            key = joined(tokens, at, length);
            if (key == NULL) {
                return -1;
            }
        }
        int failed = look_up(found, shards, key);
        Py_DECREF(key);
        if (failed) {
            return -1;
        }
    }
    return 0;
}

const char find_phrases_doc[] = PyDoc_STR(
    "find_phrases(tokens, lengths, shards, pairs, /)\n--\n\n"
    "GramPhrases.find_words over its tables: the postings of every phrase present in\n"
    "`tokens` (a list or tuple of words), one per occurrence, in text order.");

PyObject *
find_phrases(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "find_phrases takes tokens, lengths, shards and pairs");
        return NULL;
    }
    PyObject *tokens = args[0], *lengths = args[1], *shards = args[2], *pairs = args[3];
    if (!PyList_CheckExact(tokens) && !PyTuple_CheckExact(tokens)) {
        PyErr_SetString(PyExc_TypeError, "tokens: a list or tuple of str");
        return NULL;
    }
    if (!PyDict_CheckExact(lengths)) {
        PyErr_SetString(PyExc_TypeError, "lengths: a dict");
        return NULL;
    }
    if (check_shards(shards, pairs) < 0) {
        return NULL;
    }
    /* A list may be changed by the hashing below only through Python code, which str and int
     * keys never run; a reference keeps it alive whatever. */
    Py_INCREF(tokens);
    Py_ssize_t count = PySequence_Fast_GET_SIZE(tokens);
    PyObject **items = PySequence_Fast_ITEMS(tokens);
    PyObject *found = PyList_New(0);
    for (Py_ssize_t i = 0; found != NULL && i < count; i++) {
        if (!PyUnicode_CheckExact(items[i])) {
            PyErr_SetString(PyExc_TypeError, "tokens: a list or tuple of str");
            Py_CLEAR(found);
            break;
        }
    }
    for (Py_ssize_t at = 0; found != NULL && at < count; at++) {
        PyObject *starting = PyDict_GetItemWithError(lengths, items[at]);
        if (starting == NULL) {
            if (PyErr_Occurred()) {
                Py_CLEAR(found);
            }
            continue;
        }
        if (!PyTuple_CheckExact(starting)) {
            PyErr_SetString(PyExc_TypeError, "lengths: tuples of ints");
            Py_CLEAR(found);
            break;
        }
        Py_INCREF(starting);
        if (phrases_at(found, items, count, at, starting, shards, pairs) < 0) {
            Py_CLEAR(found);
        }
        Py_DECREF(starting);
    }
    Py_DECREF(tokens);
    return found;
}
