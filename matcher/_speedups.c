/* The module matcher._speedups; each function lives in the source of its concern (_speedups.h). */
#include "_speedups.h"

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
    speedups_init_postcodes();
    return PyModuleDef_Init(&module);
}
