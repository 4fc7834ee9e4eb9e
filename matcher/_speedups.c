/* The matcher's hot loops in C: every UK postcode readable in a list of upper-case words, every
 * indexed phrase present in a letter's words, a dial string's E.164 key for the usual shapes, and
 * a snapshot chunk's stored rows put into a cold start's index tables.
 *
 * The same rules as matcher/postcodes.py, which stays the reference and the fallback (see
 * postcodes_in_words there, and tests/matcher/test_speedups.py, which holds the two equal on
 * generated word lists). The Python version spends ~9 us a letter in per-word interpreter work;
 * this one reads the words' bytes in place.
 *
 * Only words of the letter alphabet (ASCII A-Z and 0-9, non-empty) are read here, as
 * matcher.phrases.upper_words makes them; for anything else `postcodes_in_words` returns None
 * and the caller uses the Python version. Nothing here calls back into Python code, so the
 * word list cannot change under it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#ifndef Py_T_OBJECT_EX /* before 3.12 the member types are in structmember.h */
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#define Py_READONLY READONLY
#endif

#define MAX_COMPACT 7 /* a postcode without its space: 5 to 7 characters */

enum {
    C_LETTER = 1,
    C_DIGIT = 2,
    C_FIRST = 4,       /* [A-PR-UWYZ]: an outward code's first letter */
    C_SECOND = 8,      /* [A-HK-Y]: the second letter of "AA9" and "AA9A" */
    C_THIRD_A9A = 16,  /* [A-HJKPS-UW]: the letter ending "A9A" */
    C_FOURTH = 32,     /* [ABEHMNPRV-Y]: the letter ending "AA9A" */
    C_INWARD = 64,     /* [ABD-HJLNP-UW-Z]: the inward code's letters */
};

static unsigned char CLASS[256];

/* OCR confusions (matcher/postcodes.py _AS_LETTER and _AS_DIGIT): in a letter position a digit
 * is read as the letter(s) it looks like; in a digit position a letter as the digit. */
static const char *AS_LETTER[256];
static char AS_DIGIT[256];

static void
mark(const char *chars, unsigned char flag)
{
    for (; *chars; chars++) {
        CLASS[(unsigned char)*chars] |= flag;
    }
}

static void
init_tables(void)
{
    mark("ABCDEFGHIJKLMNOPQRSTUVWXYZ", C_LETTER);
    mark("0123456789", C_DIGIT);
    mark("ABCDEFGHIJKLMNOPRSTUWYZ", C_FIRST);
    mark("ABCDEFGHKLMNOPQRSTUVWXY", C_SECOND);
    mark("ABCDEFGHJKPSTUW", C_THIRD_A9A);
    mark("ABEHMNPRVWXY", C_FOURTH);
    mark("ABDEFGHJLNPQRSTUWXYZ", C_INWARD);
    AS_LETTER['0'] = "O";
    AS_LETTER['1'] = "IL";
    AS_LETTER['2'] = "Z";
    AS_LETTER['5'] = "S";
    AS_LETTER['6'] = "G";
    AS_LETTER['8'] = "B";
    AS_DIGIT['O'] = '0';
    AS_DIGIT['D'] = '0';
    AS_DIGIT['Q'] = '0';
    AS_DIGIT['I'] = '1';
    AS_DIGIT['L'] = '1';
    AS_DIGIT['S'] = '5';
    AS_DIGIT['B'] = '8';
    AS_DIGIT['Z'] = '2';
    AS_DIGIT['G'] = '6';
}

static inline int
is(char ch, unsigned char flag)
{
    return (CLASS[(unsigned char)ch] & flag) != 0;
}

/* The official pattern, whole string (postcodes.py _POSTCODE.fullmatch):
 * GIR0AA | [A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9][0-9ABEHMNPRV-Y]?|[0-9][A-HJKPS-UW])[0-9][ABD-HJLNP-UW-Z]{2} */
static int
official(const char *s, Py_ssize_t n)
{
    if (n == 6 && memcmp(s, "GIR0AA", 6) == 0) {
        return 1;
    }
    if (n < 5 || n > 7) {
        return 0;
    }
    const char *in = s + n - 3;
    if (!is(in[0], C_DIGIT) || !is(in[1], C_INWARD) || !is(in[2], C_INWARD) || !is(s[0], C_FIRST)) {
        return 0;
    }
    switch (n - 3) {
    case 2:
        return is(s[1], C_DIGIT);
    case 3:
        return (is(s[1], C_DIGIT) && (is(s[2], C_DIGIT) || is(s[2], C_THIRD_A9A)))
               || (is(s[1], C_SECOND) && is(s[2], C_DIGIT));
    default: /* 4 */
        return is(s[1], C_SECOND) && is(s[2], C_DIGIT) && (is(s[3], C_DIGIT) || is(s[3], C_FOURTH));
    }
}

static int
add_reading(PyObject *found, const char *s, Py_ssize_t n)
{
    char canonical[MAX_COMPACT + 1];
    memcpy(canonical, s, n - 3);
    canonical[n - 3] = ' ';
    memcpy(canonical + n - 2, s + n - 3, 3);
    PyObject *text = PyUnicode_DecodeASCII(canonical, n + 1, NULL);
    if (text == NULL) {
        return -1;
    }
    int failed = PySet_Add(found, text);
    Py_DECREF(text);
    return failed;
}

/* One position of a shape: the characters it may be read as. `fixed` says whether reading it
 * costs a correction; every option of one position costs the same. */
typedef struct {
    char options[3];
    int fixed;
} Position;

/* postcodes.py _options: 0 when some character can be read in neither way. */
static int
options(const char *chars, const char *shape, Py_ssize_t n, Position *out, int *corrections)
{
    *corrections = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)chars[i];
        out[i].fixed = 0;
        if (shape[i] == 'A') {
            if (is(ch, C_LETTER)) {
                out[i].options[0] = (char)ch;
                out[i].options[1] = 0;
            }
            else if (AS_LETTER[ch] != NULL) {
                strcpy(out[i].options, AS_LETTER[ch]);
                out[i].fixed = 1;
            }
            else {
                return 0;
            }
        }
        else if (is(ch, C_DIGIT)) {
            out[i].options[0] = (char)ch;
            out[i].options[1] = 0;
        }
        else if (AS_DIGIT[ch]) {
            out[i].options[0] = AS_DIGIT[ch];
            out[i].options[1] = 0;
            out[i].fixed = 1;
        }
        else {
            return 0;
        }
        *corrections += out[i].fixed;
    }
    return 1;
}

/* The readings of one part (outward or inward code) with at most one correction in it
 * (MAX_CORRECTIONS_PER_PART): the part as given when nothing needs fixing, else one reading per
 * option of the single position that does. Writes up to 2 readings of `n` characters each. */
static int
part_readings(const Position *positions, Py_ssize_t n, int corrections, char readings[][4])
{
    if (corrections > 1) {
        return 0;
    }
    char base[4];
    Py_ssize_t fixed_at = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        base[i] = positions[i].options[0];
        if (positions[i].fixed) {
            fixed_at = i;
        }
    }
    if (fixed_at < 0) {
        memcpy(readings[0], base, n);
        return 1;
    }
    int count = 0;
    for (const char *option = positions[fixed_at].options; *option; option++) {
        memcpy(readings[count], base, n);
        readings[count][fixed_at] = *option;
        count++;
    }
    return count;
}

static const char *const SHAPES_2[] = {"A9", NULL};
static const char *const SHAPES_3[] = {"A99", "AA9", "A9A", NULL};
static const char *const SHAPES_4[] = {"AA99", "AA9A", NULL};

/* postcodes.py _readings: every postcode `compact` (5-7 characters) can be read as. */
static int
readings(PyObject *found, const char *compact, Py_ssize_t n, int outward_fixes)
{
    if (official(compact, n)) {
        return add_reading(found, compact, n);
    }
    Py_ssize_t outward_size = n - 3;
    Position inward[3];
    int inward_corrections;
    if (!options(compact + outward_size, "9AA", 3, inward, &inward_corrections)) {
        return 0;
    }
    int letters_only = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        letters_only &= is(compact[i], C_LETTER);
    }
    if (letters_only) {
        return 0;
    }
    char inward_readings[2][4];
    int inward_count = part_readings(inward, 3, inward_corrections, inward_readings);
    if (inward_count == 0) {
        return 0;
    }
    char outward_readings[6][4];
    int outward_count = 0;
    if (outward_fixes) {
        const char *const *shapes = outward_size == 2   ? SHAPES_2
                                    : outward_size == 3 ? SHAPES_3
                                    : outward_size == 4 ? SHAPES_4
                                                        : NULL;
        for (; shapes != NULL && *shapes != NULL; shapes++) {
            Position outward[4];
            int corrections;
            if (options(compact, *shapes, outward_size, outward, &corrections)) {
                outward_count += part_readings(outward, outward_size, corrections,
                                               outward_readings + outward_count);
            }
        }
    }
    else {
        memcpy(outward_readings[0], compact, outward_size);
        outward_count = 1;
    }
    char candidate[MAX_COMPACT];
    for (int o = 0; o < outward_count; o++) {
        memcpy(candidate, outward_readings[o], outward_size);
        for (int i = 0; i < inward_count; i++) {
            memcpy(candidate + outward_size, inward_readings[i], 3);
            if (official(candidate, n) && add_reading(found, candidate, n) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

typedef struct {
    const char *chars;
    Py_ssize_t size;
    int mixed; /* holds a letter and a digit */
} Word;

/* The readings of up to three adjacent words run together, when they fit in a postcode. */
static int
read_joined(PyObject *found, const Word *a, const Word *b, const Word *c, int outward_fixes)
{
    char compact[MAX_COMPACT];
    Py_ssize_t n = 0;
    const Word *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        if (parts[i] == NULL) {
            continue;
        }
        if (n + parts[i]->size > MAX_COMPACT) {
            return 0; /* the callers' size checks rule this out */
        }
        memcpy(compact + n, parts[i]->chars, parts[i]->size);
        n += parts[i]->size;
    }
    return readings(found, compact, n, outward_fixes);
}

static inline int
fits(Py_ssize_t total)
{
    return 5 <= total && total <= 7;
}

/* postcodes.py postcodes_in_words, window for window. */
static int
scan(PyObject *found, const Word *words, Py_ssize_t count)
{
    Py_ssize_t last = count - 1;
    for (Py_ssize_t at = 0; at < count; at++) {
        const Word *word = &words[at];
        Py_ssize_t size = word->size;
        if (!word->mixed || size > 7) {
            continue;
        }
        if (size >= 5 && readings(found, word->chars, size, 0) < 0) {
            return -1;
        }
        if (at < last && size <= 6) { /* the outward code's word */
            Py_ssize_t total = size + words[at + 1].size;
            if (fits(total) && size >= total - 3
                && read_joined(found, word, &words[at + 1], NULL, 1) < 0) {
                return -1;
            }
            if (total < 7 && at + 1 < last) {
                total += words[at + 2].size;
                if (fits(total) && size >= total - 3
                    && read_joined(found, word, &words[at + 1], &words[at + 2], 1) < 0) {
                    return -1;
                }
            }
        }
        if (at > 0 && size <= 3) { /* a piece of the inward code */
            const Word *before = &words[at - 1];
            Py_ssize_t first = before->size;
            if (first > 6 || before->mixed) {
                continue;
            }
            Py_ssize_t total = first + size;
            if (fits(total) && first >= total - 3 && read_joined(found, before, word, NULL, 1) < 0) {
                return -1;
            }
            if (at < last && total < 7) {
                Py_ssize_t longer = total + words[at + 1].size;
                if (fits(longer) && first >= longer - 3
                    && read_joined(found, before, word, &words[at + 1], 1) < 0) {
                    return -1;
                }
            }
            if (at > 1 && first < 3) {
                const Word *outward = &words[at - 2];
                Py_ssize_t longer = outward->size + total;
                if (fits(longer) && outward->size >= longer - 3
                    && read_joined(found, outward, before, word, 1) < 0) {
                    return -1;
                }
            }
        }
    }
    return 0;
}

#define STACK_WORDS 128

PyDoc_STRVAR(postcodes_in_words_doc,
             "postcodes_in_words(words, /)\n--\n\n"
             "The set of canonical postcodes readable in a list (or tuple) of upper-case words, as\n"
             "matcher.postcodes.postcodes_in_words; None when a word is not of A-Z and 0-9 only.");

static PyObject *
postcodes_in_words(PyObject *module, PyObject *words)
{
    if (!PyList_CheckExact(words) && !PyTuple_CheckExact(words)) {
        Py_RETURN_NONE;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(words);
    PyObject **items = PySequence_Fast_ITEMS(words);
    Word stack[STACK_WORDS];
    Word *read = count <= STACK_WORDS ? stack : PyMem_New(Word, count);
    if (read == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = items[i];
        if (!PyUnicode_CheckExact(item) || !PyUnicode_IS_ASCII(item) || PyUnicode_GET_LENGTH(item) == 0) {
            goto fallback;
        }
        const char *chars = (const char *)PyUnicode_DATA(item);
        Py_ssize_t size = PyUnicode_GET_LENGTH(item);
        unsigned char seen = 0;
        for (Py_ssize_t j = 0; j < size; j++) {
            unsigned char kind = CLASS[(unsigned char)chars[j]] & (C_LETTER | C_DIGIT);
            if (!kind) {
                goto fallback;
            }
            seen |= kind;
        }
        read[i].chars = chars;
        read[i].size = size;
        read[i].mixed = seen == (C_LETTER | C_DIGIT);
    }
    result = PySet_New(NULL);
    if (result != NULL && scan(result, read, count) < 0) {
        Py_CLEAR(result);
    }
    goto done;
fallback:
    result = Py_NewRef(Py_None);
done:
    if (read != stack) {
        PyMem_Free(read);
    }
    return result;
}

/* ---- matcher.phrases.GramPhrases.find_words ---------------------------------------------- */

/* Python's hash(key) % count: a floor modulo, never negative. */
static inline Py_ssize_t
shard_of(Py_hash_t hash, Py_ssize_t count)
{
    Py_ssize_t at = (Py_ssize_t)(hash % count);
    return at < 0 ? at + count : at;
}

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

PyDoc_STRVAR(find_phrases_doc,
             "find_phrases(tokens, lengths, shards, pairs, /)\n--\n\n"
             "GramPhrases.find_words over its tables: the postings of every phrase present in\n"
             "`tokens` (a list or tuple of words), one per occurrence, in text order.");

static PyObject *
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

/* ---- phone numbers: matcher.phones.PhoneNormaliser.python_fast_key, for profiles whose
 * dialable numbers start with one of a set of bytes (GB: "+" or "0") ---------------------------- */

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

PyDoc_STRVAR(phone_key_doc,
"phone_key(raw, rules, /)\n--\n\n"
"matcher.phones.PhoneNormaliser.python_fast_key(raw) under rules = (region, heads, prefixes):\n"
"region 1 for GB's national shapes, 2 for the US's, 0 for none; heads, the bytes a dialable\n"
"number starts with; prefixes, the dial prefixes as bytes in the profile's order. The E.164 key,\n"
"or None where the Python fast path gives None (then the slow path decides).");

static PyObject *
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

/* ---- a snapshot chunk's stored rows into a build's tables: matcher.stored_run.python_stored_run ----
 *
 * Every check and every insert in the same order as the Python version (so a bad row raises the
 * same error with the same rows before it in the tables). References, keys and scope items are
 * exact str and the tables exact dicts, so no Python code runs while the lists are read; the items
 * of a row are held while it is put in all the same. */

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

PyDoc_STRVAR(stored_run_doc,
             "stored_run(columns, records, row, end, phone_at, email_at, entry_shards, phone_shards,\n"
             "           email_shards, compiled, /)\n--\n\n"
             "matcher.stored_run.python_stored_run: put a snapshot chunk's stored rows from `row` into\n"
             "the sharded tables, up to a row to compile whole, one already indexed or `end`;\n"
             "returns (row, phone_at, email_at, phones, emails).");

static PyObject *
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

static PyMethodDef methods[] = {
    {"postcodes_in_words", postcodes_in_words, METH_O, postcodes_in_words_doc},
    {"find_phrases", (PyCFunction)(void (*)(void))find_phrases, METH_FASTCALL, find_phrases_doc},
    {"phone_key", (PyCFunction)(void (*)(void))phone_key, METH_FASTCALL, phone_key_doc},
    {"stored_run", (PyCFunction)(void (*)(void))stored_run, METH_FASTCALL, stored_run_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "matcher._speedups",
    .m_doc = "Compiled hot paths of the matcher; each has a Python reference it is tested against.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    init_tables();
    return PyModuleDef_Init(&module);
}
