/* matcher._speedups: the matcher's hot loops in C, one source per concern, each the compiled
 * copy of a Python reference that stays beside it as the fallback and is held equal to it by
 * tests/matcher/test_speedups.py:
 *   _speedups_postcodes.c   matcher.postcodes.postcodes_in_words
 *   _speedups_phrases.c     matcher.phrases.GramPhrases.find_words
 *   _speedups_phones.c      matcher.phones.PhoneNormaliser.python_fast_key
 *   _speedups_stored_rows.c matcher.stored_run.python_stored_run
 * _speedups.c holds the module; this header what the sources share. They are built as one
 * extension (pyproject.toml) with hidden visibility, so only PyInit__speedups is exported. */
#ifndef MATCHER_SPEEDUPS_H
#define MATCHER_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Python's hash(key) % count: a floor modulo, never negative. */
static inline Py_ssize_t
shard_of(Py_hash_t hash, Py_ssize_t count)
{
    Py_ssize_t at = (Py_ssize_t)(hash % count);
    return at < 0 ? at + count : at;
}

void speedups_init_postcodes(void);

PyObject *postcodes_in_words(PyObject *module, PyObject *words);
PyObject *find_phrases(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *phone_key(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *stored_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

extern const char postcodes_in_words_doc[];
extern const char find_phrases_doc[];
extern const char phone_key_doc[];
extern const char stored_run_doc[];

#endif
