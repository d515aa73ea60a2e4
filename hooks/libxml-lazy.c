/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The hook's libxml2 entry points, forwarded to a libxml2 loaded with dlopen() on first need. */
/*
 * Theory of operation
 * -------------------
 * libvirtd runs every qemu hook for every operation of every domain (an
 * incoming migration alone calls six), and the hook ignores all but three of
 * them. Most of what an ignored call costs is the dynamic loader: Debian 12's
 * libxml2 brings ICU and libstdc++ (with its locale initialisation), several
 * milliseconds per exec on a small VM, while the call itself only drains
 * stdin. So the hook binary is not linked against libxml2 at all: domxml.c
 * and the shared reader shim/libvirt-xml.c are compiled against libxml2's
 * headers as everywhere else, and the functions they call are defined here
 * with libxml2's own prototypes (the compiler checks each definition
 * against the header's declaration), forwarding to the real ones, which
 * uffd_shim_hook_libxml_load() resolves with dlopen()/dlsym() when an
 * operation that reads domain XML starts.
 *
 * The library is opened by its soname, so it is found exactly the way the
 * DT_NEEDED entry of a linked hook would find it (same search path, same
 * trust: root-owned system directories). The definitions here are not
 * exported from the executable (it is not linked with --export-dynamic), so
 * libxml2's internal references keep binding to libxml2 itself.
 *
 * If domxml.c or libvirt-xml.c starts calling a libxml2 function that is
 * not in the list below, the hook fails to link (no libxml2 to resolve it
 * from): add it here.
 * `xmlFree` is a variable in libxml2 (a function pointer), copied from the
 * library at load time.
 */
#include "libxml-lazy.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>
#include <libxml/xmlstring.h>

/* libxml2 2.14 changed the soname (ABI 16); earlier releases are .so.2. */
#if LIBXML_VERSION >= 21400
#define LIBXML_SONAME "libxml2.so.16"
#else
#define LIBXML_SONAME "libxml2.so.2"
#endif

/*
 * Every libxml2 function the hook calls: F for functions returning a value,
 * V for void ones: (return type, name, parameters, arguments).
 */
#define LIBXML_FUNCTIONS(F, V)                                                              \
    F (xmlGenericErrorFunc *, __xmlGenericError, (void), ())                                \
    F (void **, __xmlGenericErrorContext, (void), ())                                       \
    F (xmlNodePtr, xmlAddChild, (xmlNodePtr parent, xmlNodePtr cur), (parent, cur))         \
    F (xmlNodePtr, xmlAddPrevSibling, (xmlNodePtr cur, xmlNodePtr elem), (cur, elem))       \
    F (const xmlChar *, xmlBufferContent, (const xmlBuffer *buf), (buf))                    \
    F (xmlBufferPtr, xmlBufferCreate, (void), ())                                           \
    V (void, xmlBufferFree, (xmlBufferPtr buf), (buf))                                      \
    F (int, xmlBufferLength, (const xmlBuffer *buf), (buf))                                 \
    F (xmlErrorPtr, xmlCtxtGetLastError, (void *ctx), (ctx))                                \
    F (xmlDocPtr, xmlCtxtReadMemory,                                                        \
       (xmlParserCtxtPtr ctxt, const char *buffer, int size, const char *URL,               \
        const char *encoding, int options),                                                 \
       (ctxt, buffer, size, URL, encoding, options))                                        \
    F (xmlNodePtr, xmlDocGetRootElement, (const xmlDoc *doc), (doc))                        \
    V (void, xmlFreeDoc, (xmlDocPtr cur), (cur))                                            \
    V (void, xmlFreeNode, (xmlNodePtr cur), (cur))                                          \
    V (void, xmlFreeParserCtxt, (xmlParserCtxtPtr ctxt), (ctxt))                            \
    F (xmlChar *, xmlGetNoNsProp, (const xmlNode *node, const xmlChar *name), (node, name)) \
    F (xmlNodePtr, xmlNewDocNode,                                                           \
       (xmlDocPtr doc, xmlNsPtr ns, const xmlChar *name, const xmlChar *content),           \
       (doc, ns, name, content))                                                            \
    F (xmlNodePtr, xmlNewDocText, (const xmlDoc *doc, const xmlChar *content),              \
       (doc, content))                                                                      \
    F (xmlNsPtr, xmlNewNs, (xmlNodePtr node, const xmlChar *href, const xmlChar *prefix),   \
       (node, href, prefix))                                                                \
    F (xmlParserCtxtPtr, xmlNewParserCtxt, (void), ())                                      \
    F (xmlAttrPtr, xmlNewProp, (xmlNodePtr node, const xmlChar *name, const xmlChar *value), \
       (node, name, value))                                                                 \
    F (xmlChar *, xmlNodeGetContent, (const xmlNode *cur), (cur))                           \
    F (int, xmlSaveClose, (xmlSaveCtxtPtr ctxt), (ctxt))                                    \
    F (long, xmlSaveDoc, (xmlSaveCtxtPtr ctxt, xmlDocPtr doc), (ctxt, doc))                 \
    F (xmlSaveCtxtPtr, xmlSaveToBuffer, (xmlBufferPtr buffer, const char *encoding,         \
                                         int options), (buffer, encoding, options))         \
    F (xmlNsPtr, xmlSearchNsByHref, (xmlDocPtr doc, xmlNodePtr node, const xmlChar *href),  \
       (doc, node, href))                                                                   \
    V (void, xmlSetGenericErrorFunc, (void *ctx, xmlGenericErrorFunc handler),              \
       (ctx, handler))                                                                      \
    V (void, xmlSetNs, (xmlNodePtr node, xmlNsPtr ns), (node, ns))                          \
    F (xmlAttrPtr, xmlSetProp, (xmlNodePtr node, const xmlChar *name, const xmlChar *value), \
       (node, name, value))                                                                 \
    V (void, xmlStopParser, (xmlParserCtxtPtr ctxt), (ctxt))                                \
    F (int, xmlStrEqual, (const xmlChar *str1, const xmlChar *str2), (str1, str2))          \
    V (void, xmlUnlinkNode, (xmlNodePtr cur), (cur))

/* The real entry points; __typeof__ keeps them the header's exact types. */
#define LAZY_POINTER(ret, name, params, args) static __typeof__ (name) *real_##name;
LIBXML_FUNCTIONS (LAZY_POINTER, LAZY_POINTER)

typedef struct {
    const char *name;
    void **slot;
} LazySymbol;

#define LAZY_SLOT(ret, name, params, args) { #name, (void **) &real_##name },
static const LazySymbol lazy_symbols[] = { LIBXML_FUNCTIONS (LAZY_SLOT, LAZY_SLOT) };

static void *libxml_handle;

static void lazy_free_before_load (void *mem);

/* libxml2's deallocator variable; the real value is copied in at load time. */
xmlFreeFunc xmlFree = lazy_free_before_load;

gboolean
uffd_shim_hook_libxml_load (GError **error)
{
    void *h;
    xmlFreeFunc *free_var;

    if (libxml_handle != NULL)
        return TRUE;
    h = dlopen (LIBXML_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "cannot load %s: %s",
                     LIBXML_SONAME, dlerror ());
        return FALSE;
    }
    for (gsize i = 0; i < G_N_ELEMENTS (lazy_symbols); i++) {
        *lazy_symbols[i].slot = dlsym (h, lazy_symbols[i].name);
        if (*lazy_symbols[i].slot == NULL) {
            g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s has no %s",
                         LIBXML_SONAME, lazy_symbols[i].name);
            dlclose (h);
            return FALSE;
        }
    }
    free_var = dlsym (h, "xmlFree");
    if (free_var == NULL || *free_var == NULL) {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s has no xmlFree", LIBXML_SONAME);
        dlclose (h);
        return FALSE;
    }
    xmlFree = *free_var;
    libxml_handle = h;
    return TRUE;
}

/* A call before a successful load is a bug of the hook: load now or stop. */
static void
ensure_loaded (void)
{
    g_autoptr (GError) error = NULL;

    if (G_LIKELY (libxml_handle != NULL))
        return;
    if (!uffd_shim_hook_libxml_load (&error)) {
        fprintf (stderr, "uffd-shim-hook: %s\n", error->message);
        abort ();
    }
}

static void
lazy_free_before_load (void *mem)
{
    ensure_loaded ();
    xmlFree (mem);
}

#define LAZY_DEFINE(ret, name, params, args) \
    ret name params                          \
    {                                        \
        ensure_loaded ();                    \
        return real_##name args;             \
    }
#define LAZY_DEFINE_VOID(ret, name, params, args) \
    ret name params                               \
    {                                             \
        ensure_loaded ();                         \
        real_##name args;                         \
    }
LIBXML_FUNCTIONS (LAZY_DEFINE, LAZY_DEFINE_VOID)
