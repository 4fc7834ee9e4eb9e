/* Every UK postcode readable in a list of upper-case words: matcher.postcodes.postcodes_in_words,
 * which stays the reference and the fallback (tests/matcher/test_speedups.py holds the two equal
 * on generated word lists). The Python version spends its time in per-word interpreter work; this
 * one reads the words' bytes in place.
 *
 * Only words of the letter alphabet (ASCII A-Z and 0-9, non-empty) are read here, as
 * matcher.phrases.upper_words makes them; for anything else `postcodes_in_words` returns None
 * and the caller uses the Python version. Nothing here calls back into Python code, so the
 * word list cannot change under it.
 */
#include "_speedups.h"

#include <string.h>

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

void
speedups_init_postcodes(void)
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

const char postcodes_in_words_doc[] = PyDoc_STR(
    "postcodes_in_words(words, /)\n--\n\n"
    "The set of canonical postcodes readable in a list (or tuple) of upper-case words, as\n"
    "matcher.postcodes.postcodes_in_words; None when a word is not of A-Z and 0-9 only.");

PyObject *
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
