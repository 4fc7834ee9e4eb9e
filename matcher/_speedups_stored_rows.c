/* A snapshot chunk's stored rows put into a build's tables: matcher.stored_run.python_stored_run,
 * which stays the reference and the fallback (tests/matcher/test_speedups.py holds the two equal).
 *
 * Every check and every insert in the same order as the Python version (so a bad row raises the
 * same error with the same rows before it in the tables). References, keys and scope items are
 * exact str and the tables exact dicts, so no Python code runs while the lists are read; the items
 * of a row are held while it is put in all the same. */
#include "_speedups.h"

#ifndef Py_T_OBJECT_EX /* before 3.12 the member types are in structmember.h */
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#define Py_READONLY READONLY
#endif

enum {
    COL_REFERENCES, COL_PRISONERS, COL_SCOPES, COL_PHONE_KEY_COUNTS, COL_PHONE_KEYS,
    COL_EMAIL_KEY_COUNTS, COL_EMAIL_KEYS, COL_PHONES, COL_EMAILS, COL_ADDRESSES, COL_WHOLE,
    COLUMNS,
};

/* matcher.compiled.Compiled's slots, set on each new object as python_stored_run sets them */
enum {
    SLOT_ENTRY, SLOT_RECORD, SLOT_REFERENCE, SLOT_PRISONER, SLOT_SCOPE, SLOT_PHONE_KEYS,
    SLOT_EMAIL_KEYS, SLOT_ADDRESS_IDS, SLOT_EXEMPT, SLOT_ADDRESS_EXEMPTIONS, SLOTS,
};
static const char *const SLOT_NAMES[SLOTS] = {
    "_entry", "_record", "reference", "prisoner", "scope", "phone_keys", "email_keys",
    "address_ids", "exempt", "address_exemptions",
};
#define MAX_STORED_COUNT (1LL << 31) /* matcher.stored_run.MAX_STORED_COUNT */

/* Where each slot lives in an instance of `type`: its own writable object slots, else -1. */
static int
slot_offsets(PyObject *type, Py_ssize_t *offsets)
{
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "stored_run: compiled must be a class with the compiled slots");
        return -1;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *dict = PyType_GetDict((PyTypeObject *)type);
#else
    PyObject *dict = Py_XNewRef(((PyTypeObject *)type)->tp_dict);
#endif
    int failed = dict == NULL;
    for (int i = 0; !failed && i < SLOTS; i++) {
        PyObject *descr = PyDict_GetItemString(dict, SLOT_NAMES[i]);
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
            ((PyDescrObject *)descr)->d_type != (PyTypeObject *)type) {
            failed = 1;
            break;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != Py_T_OBJECT_EX || (member->flags & Py_READONLY) || member->offset <= 0 ||
            member->offset + (Py_ssize_t)sizeof(PyObject *) > ((PyTypeObject *)type)->tp_basicsize) {
            failed = 1;
            break;
        }
        offsets[i] = member->offset;
    }
    Py_XDECREF(dict);
    if (failed) {
        PyErr_SetString(PyExc_TypeError, "stored_run: compiled must be a class with the compiled slots");
        return -1;
    }
    return 0;
}

static inline void
set_slot(PyObject *obj, Py_ssize_t offset, PyObject *value)
{
    PyObject **slot = (PyObject **)((char *)obj + offset);
    Py_XSETREF(*slot, Py_NewRef(value));
}

/* _stored_count: the count, or -1 with TypeError or ValueError set */
static long long
stored_count(PyObject *count)
{
    if (!PyLong_CheckExact(count)) {
        PyErr_SetString(PyExc_TypeError, "stored_run: a count is not an int");
        return -1;
    }
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(count, &overflow);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow || value < 0 || value >= MAX_STORED_COUNT) {
        PyErr_SetString(PyExc_ValueError, "stored_run: a count out of range");
        return -1;
    }
    return value;
}

static inline PyObject *
table_of(PyObject *shards, Py_hash_t hash)
{
    return PyTuple_GET_ITEM(shards, shard_of(hash, PyTuple_GET_SIZE(shards)));
}

/* Builder._post for one key, in one lookup: the compiled entry alone, or appended to the key's tuple */
static int
post(PyObject *shards, PyObject *key, PyObject *compiled)
{
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1) {
        return -1;
    }
    PyObject *table = table_of(shards, hash);
    PyObject *current = PyDict_SetDefault(table, key, compiled);
    if (current == NULL) {
        return -1;
    }
    if (current == compiled) {
        return 0;
    }
    PyObject *posting;
    if (PyTuple_Check(current)) {
        Py_ssize_t n = PyTuple_GET_SIZE(current);
        posting = PyTuple_New(n + 1);
        if (posting == NULL) {
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyTuple_SET_ITEM(posting, i, Py_NewRef(PyTuple_GET_ITEM(current, i)));
        }
        PyTuple_SET_ITEM(posting, n, Py_NewRef(compiled));
    }
    else {
        posting = PyTuple_Pack(2, current, compiled);
        if (posting == NULL) {
            return -1;
        }
    }
    int failed = PyDict_SetItem(table, key, posting);
    Py_DECREF(posting);
    return failed;
}

/* A row's keys keys[at:at + count] as a tuple; TypeError for one that is not a str. */
static PyObject *
row_keys(PyObject *keys, Py_ssize_t at, Py_ssize_t count)
{
    PyObject *out = PyTuple_New(count);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key = PyList_GET_ITEM(keys, at + i);
        if (!PyUnicode_CheckExact(key)) {
            PyErr_SetString(PyExc_TypeError, "stored_run: a key is not a str");
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, Py_NewRef(key));
    }
    return out;
}

static int
check_tables(PyObject *tables)
{
    int ok = PyTuple_CheckExact(tables) && PyTuple_GET_SIZE(tables) > 0;
    for (Py_ssize_t i = 0; ok && i < PyTuple_GET_SIZE(tables); i++) {
        ok = PyDict_CheckExact(PyTuple_GET_ITEM(tables, i));
    }
    if (!ok) {
        PyErr_SetString(PyExc_TypeError, "stored_run: tables must be non-empty tuples of dicts");
        return -1;
    }
    return 0;
}

typedef struct {
    PyObject **col;
    PyObject *records, *entry_shards, *phone_shards, *email_shards, *type, *empty;
    Py_ssize_t *offsets;
} Run;

/* One row that is not whole: its checks, then the compiled entry into the tables, unless its
 * reference is there already (*taken = 0). Returns 0, or -1 with an exception set. */
static int
take_row(Run *run, Py_ssize_t row, PyObject *entries, PyObject *reference, Py_ssize_t phone_at,
         Py_ssize_t phone_count, Py_ssize_t email_at, Py_ssize_t email_count, long long *counts,
         int *taken)
{
    *taken = 1;
    long long phones = stored_count(PyList_GET_ITEM(run->col[COL_PHONES], row));
    if (phones < 0) {
        return -1;
    }
    long long emails = stored_count(PyList_GET_ITEM(run->col[COL_EMAILS], row));
    if (emails < 0) {
        return -1;
    }
    PyObject *scope = PyList_GET_ITEM(run->col[COL_SCOPES], row);
    if (scope == Py_None) {
        Py_INCREF(scope);
    }
    else {
        int ok = PyList_CheckExact(scope);
        for (Py_ssize_t i = 0; ok && i < PyList_GET_SIZE(scope); i++) {
            ok = PyUnicode_CheckExact(PyList_GET_ITEM(scope, i));
        }
        if (!ok) {
            PyErr_SetString(PyExc_TypeError, "stored_run: a scope is not None or a list of str");
            return -1;
        }
        scope = PyFrozenSet_New(scope);
        if (scope == NULL) {
            return -1;
        }
    }
    PyObject *prisoner = Py_NewRef(PyList_GET_ITEM(run->col[COL_PRISONERS], row));
    PyObject *record = Py_NewRef(PyList_GET_ITEM(run->records, row));
    PyObject *phone_keys = row_keys(run->col[COL_PHONE_KEYS], phone_at, phone_count);
    PyObject *email_keys = phone_keys == NULL ? NULL : row_keys(run->col[COL_EMAIL_KEYS], email_at, email_count);
    PyObject *compiled = NULL;
    int failed = email_keys == NULL;
    if (!failed) {
        compiled = ((PyTypeObject *)run->type)->tp_alloc((PyTypeObject *)run->type, 0);
        failed = compiled == NULL;
    }
    if (!failed) {
        Py_ssize_t *at = run->offsets;
        set_slot(compiled, at[SLOT_ENTRY], Py_None);
        set_slot(compiled, at[SLOT_RECORD], record);
        set_slot(compiled, at[SLOT_REFERENCE], reference);
        set_slot(compiled, at[SLOT_PRISONER], prisoner);
        set_slot(compiled, at[SLOT_SCOPE], scope);
        set_slot(compiled, at[SLOT_PHONE_KEYS], phone_keys);
        set_slot(compiled, at[SLOT_EMAIL_KEYS], email_keys);
        set_slot(compiled, at[SLOT_ADDRESS_IDS], run->empty);
        set_slot(compiled, at[SLOT_EXEMPT], Py_None);
        set_slot(compiled, at[SLOT_ADDRESS_EXEMPTIONS], run->empty);
        PyObject *indexed = PyDict_SetDefault(entries, reference, compiled);
        failed = indexed == NULL;
        if (indexed != NULL && indexed != compiled) {
            *taken = 0; /* already indexed: the caller stops here */
            phone_count = email_count = 0;
        }
    }
    for (Py_ssize_t i = 0; !failed && i < phone_count; i++) {
        failed = post(run->phone_shards, PyTuple_GET_ITEM(phone_keys, i), compiled) < 0;
    }
    for (Py_ssize_t i = 0; !failed && i < email_count; i++) {
        failed = post(run->email_shards, PyTuple_GET_ITEM(email_keys, i), compiled) < 0;
    }
    if (!failed && *taken) {
        counts[0] += phones;
        counts[1] += emails;
    }
    Py_XDECREF(compiled);
    Py_XDECREF(phone_keys);
    Py_XDECREF(email_keys);
    Py_DECREF(record);
    Py_DECREF(prisoner);
    Py_DECREF(scope);
    return failed ? -1 : 0;
}

const char stored_run_doc[] = PyDoc_STR(
    "stored_run(columns, records, row, end, phone_at, email_at, entry_shards, phone_shards,\n"
    "           email_shards, compiled, /)\n--\n\n"
    "matcher.stored_run.python_stored_run: put a snapshot chunk's stored rows from `row` into\n"
    "the sharded tables, up to a row to compile whole, one already indexed or `end`;\n"
    "returns (row, phone_at, email_at, phones, emails).");

PyObject *
stored_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "stored_run takes columns, records, row, end, phone_at, email_at, "
                                         "entry_shards, phone_shards, email_shards and compiled");
        return NULL;
    }
    PyObject *columns = args[0];
    Run run = {.records = args[1], .entry_shards = args[6], .phone_shards = args[7],
               .email_shards = args[8], .type = args[9]};
    if (!PyList_CheckExact(columns) || PyList_GET_SIZE(columns) != COLUMNS) {
        PyErr_SetString(PyExc_TypeError, "stored_run: columns must be a list of the stored columns");
        return NULL;
    }
    PyObject *col[COLUMNS];
    for (Py_ssize_t i = 0; i < COLUMNS; i++) {
        col[i] = PyList_GET_ITEM(columns, i);
    }
    run.col = col;
    for (Py_ssize_t i = 0; i < COLUMNS; i++) {
        if (!PyList_CheckExact(col[i])) {
            PyErr_SetString(PyExc_TypeError, "stored_run: columns must be lists");
            return NULL;
        }
    }
    if (!PyList_CheckExact(run.records)) {
        PyErr_SetString(PyExc_TypeError, "stored_run: columns must be lists");
        return NULL;
    }
    Py_ssize_t size = PyList_GET_SIZE(col[COL_REFERENCES]);
    for (Py_ssize_t i = 0; i < COLUMNS; i++) {
        if (i != COL_PHONE_KEYS && i != COL_EMAIL_KEYS && PyList_GET_SIZE(col[i]) != size) {
            PyErr_SetString(PyExc_ValueError, "stored_run: columns of different lengths");
            return NULL;
        }
    }
    if (PyList_GET_SIZE(run.records) != size) {
        PyErr_SetString(PyExc_ValueError, "stored_run: columns of different lengths");
        return NULL;
    }
    if (check_tables(run.entry_shards) < 0 || check_tables(run.phone_shards) < 0 ||
        check_tables(run.email_shards) < 0) {
        return NULL;
    }
    Py_ssize_t row = PyLong_AsSsize_t(args[2]);
    if (row == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t end = PyLong_AsSsize_t(args[3]);
    if (end == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t phone_at = PyLong_AsSsize_t(args[4]);
    if (phone_at == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t email_at = PyLong_AsSsize_t(args[5]);
    if (email_at == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t phone_keys = PyList_GET_SIZE(col[COL_PHONE_KEYS]);
    Py_ssize_t email_keys = PyList_GET_SIZE(col[COL_EMAIL_KEYS]);
    if (row < 0 || row > end || end > size || phone_at < 0 || phone_at > phone_keys || email_at < 0 ||
        email_at > email_keys) {
        PyErr_SetString(PyExc_ValueError, "stored_run: a start or end out of range");
        return NULL;
    }
    Py_ssize_t offsets[SLOTS];
    if (slot_offsets(run.type, offsets) < 0) {
        return NULL;
    }
    run.offsets = offsets;
    run.empty = PyTuple_New(0);
    if (run.empty == NULL) {
        return NULL;
    }
    /* The lists could change under the loop only through Python code, which the str keys and
     * exact dicts never run; references keep them alive whatever. */
    for (Py_ssize_t i = 0; i < COLUMNS; i++) {
        Py_INCREF(col[i]);
    }
    Py_INCREF(run.records);
    long long counts[2] = {0, 0};
    int failed = 0;
    for (; row < end; row++) {
        PyObject *reference = PyList_GET_ITEM(col[COL_REFERENCES], row);
        if (!PyUnicode_CheckExact(reference)) {
            PyErr_SetString(PyExc_TypeError, "stored_run: a reference is not a str");
            failed = 1;
            break;
        }
        PyObject *whole = PyList_GET_ITEM(col[COL_WHOLE], row);
        if (!PyBool_Check(whole)) {
            PyErr_SetString(PyExc_TypeError, "stored_run: a whole flag is not a bool");
            failed = 1;
            break;
        }
        long long phone_count = stored_count(PyList_GET_ITEM(col[COL_PHONE_KEY_COUNTS], row));
        long long email_count = phone_count < 0 ? -1 : stored_count(PyList_GET_ITEM(col[COL_EMAIL_KEY_COUNTS], row));
        if (email_count < 0) {
            failed = 1;
            break;
        }
        if (phone_at + phone_count > phone_keys || email_at + email_count > email_keys) {
            PyErr_SetString(PyExc_ValueError, "stored_run: fewer keys than counted");
            failed = 1;
            break;
        }
        if (whole == Py_True) {
            break;
        }
        Py_hash_t hash = PyObject_Hash(reference);
        if (hash == -1) {
            failed = 1;
            break;
        }
        PyObject *entries = table_of(run.entry_shards, hash);
        int taken;
        Py_INCREF(reference);
        failed = take_row(&run, row, entries, reference, phone_at, (Py_ssize_t)phone_count, email_at,
                          (Py_ssize_t)email_count, counts, &taken) < 0;
        Py_DECREF(reference);
        if (failed || !taken) {
            break;
        }
        phone_at += (Py_ssize_t)phone_count;
        email_at += (Py_ssize_t)email_count;
    }
    Py_DECREF(run.records);
    for (Py_ssize_t i = 0; i < COLUMNS; i++) {
        Py_DECREF(col[i]);
    }
    Py_DECREF(run.empty);
    if (failed) {
        return NULL;
    }
    return Py_BuildValue("(nnnLL)", row, phone_at, email_at, counts[0], counts[1]);
}
