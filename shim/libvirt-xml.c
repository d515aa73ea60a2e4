/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one reader of libvirt's XML documents (domain XML, status XML): size cap, pre-scan, libxml2 without DTDs, depth limit. */
/*
 * Theory of operation
 * -------------------
 * Every libvirt XML document the project reads goes through
 * uffd_shim_xml_read(): the domain XML the hook gets on its stdin
 * (hooks/domxml.c) and the status XML RUNDIR/NAME.xml the broker reads for
 * every request (libvirt-record.c, backend.c). Both come from libvirt's own
 * formatter, but carry <metadata> set by any libvirt user and, on a
 * migration, a definition sent by the source host, so they are parsed as
 * untrusted input and every surprise is an error (fail closed):
 *
 *  1. Size: more than the kind's max_size bytes is rejected unread (the
 *     hook takes a domain XML of up to 4 MiB, the broker a status XML of up
 *     to 16 MiB: it holds the whole domain XML and libvirt's private data;
 *     a real one is tens of KiB).
 *  2. A linear pre-scan rejects any "<!" markup other than comments and
 *     CDATA (so a DOCTYPE, and with it every entity declaration, internal or
 *     external, never reaches libxml2), more than UFFD_SHIM_XML_MAX_ATTRS
 *     attributes on one element, and more than UFFD_SHIM_XML_MAX_NS_DECLS
 *     namespace declarations in total. libxml2 2.9 checks duplicate
 *     attributes and namespaces quadratically; without the pre-scan a 4 MiB
 *     element of short attributes costs it about half an hour of CPU. The
 *     pre-scan ends a tag at any '<' (even inside quotes) exactly as libxml2
 *     ends an attribute value there, so both agree on where tags start and
 *     its count of '=' per tag is never below libxml2's attribute count.
 *  3. libxml2 parses with XML_PARSE_NONET and without XML_PARSE_NOENT,
 *     XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR, XML_PARSE_DTDVALID and
 *     XML_PARSE_HUGE: no network, no file access, no entity substitution, its
 *     built-in limits (depth 256, 10 MB text nodes) stay on. As a second
 *     guard the internalSubset and entityDecl SAX callbacks stop the parser.
 *     The input is read as UTF-8 whatever it declares or starts with
 *     (XML_PARSE_IGNORE_ENC): libvirt writes nothing else, and a UTF-16,
 *     UTF-32 or EBCDIC document would look different to the byte-wise
 *     pre-scan than to libxml2; now it is simply malformed. The five
 *     predefined entities and character references are plain XML and
 *     stay allowed (libvirt escapes with them).
 *  4. After parsing, the tree may not be deeper than UFFD_SHIM_XML_MAX_DEPTH
 *     (libvirt's status XML, the deepest it writes, stays under 10) and the
 *     root must be the kind's element, without a namespace.
 *
 * What is taken from the tree is each caller's business (domxml.c,
 * libvirt-record.c, backend.c say what and how), with elements matched by
 * namespace URI, never by prefix. The hook does not link libxml2 but loads
 * it on demand (hooks/libxml-lazy.c): a libxml2 function called here for the
 * first time must be added to the list there.
 */
#include "libvirt-xml.h"

#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

G_DEFINE_QUARK (uffd-shim-xml-error-quark, uffd_shim_xml_error)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlParserCtxt, xmlFreeParserCtxt)

static gboolean
has_prefix_n (const char *p, gsize avail, const char *prefix)
{
    gsize n = strlen (prefix);

    return avail >= n && memcmp (p, prefix, n) == 0;
}

/* Returns the offset just past @terminator at or after @from, or @len. */
static gsize
skip_past (const char *data, gsize len, gsize from, const char *terminator)
{
    gsize tlen = strlen (terminator);
    const char *hit;

    if (from >= len)
        return len;
    hit = memmem (data + from, len - from, terminator, tlen);
    if (hit == NULL)
        return len;
    return (gsize) (hit - data) + tlen;
}

gboolean
uffd_shim_xml_is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Is the attribute name starting at @p (ended by '=' or space) "xmlns" or
 * "xmlns:..."? */
static gboolean
is_xmlns_name (const char *p, gsize avail)
{
    if (!has_prefix_n (p, avail, "xmlns"))
        return FALSE;
    if (avail == 5)
        return TRUE;
    return p[5] == ':' || p[5] == '=' || uffd_shim_xml_is_space (p[5]);
}

/*
 * Scans one start tag from @pos (just past '<'); returns the offset after it.
 * Every attribute has exactly one '=' outside quotes, so counting those is an
 * upper bound that a well-formed tag cannot get under.
 */
static gboolean
prescan_start_tag (const char *data, gsize len, gsize *pos, guint *ns_decls,
                   GError **error)
{
    guint attrs = 0;
    char quote = 0;
    gsize name_start = *pos;
    gboolean in_name = TRUE;
    gsize i;

    for (i = *pos; i < len; i++) {
        char c = data[i];

        /* libxml2 ends an attribute value at '<' too (it is an error), then
         * parses that '<' as new markup; stopping here keeps both views of
         * where tags start the same. */
        if (c == '<')
            break;
        if (quote != 0) {
            if (c == quote)
                quote = 0;
            continue;
        }
        if (c == '>')
            break;
        if (c == '"' || c == '\'') {
            quote = c;
            in_name = FALSE;
        } else if (c == '=') {
            in_name = FALSE;
            if (++attrs > UFFD_SHIM_XML_MAX_ATTRS) {
                g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_FORBIDDEN,
                             "an element has more than %u attributes",
                             UFFD_SHIM_XML_MAX_ATTRS);
                return FALSE;
            }
            if (is_xmlns_name (data + name_start, len - name_start) &&
                ++*ns_decls > UFFD_SHIM_XML_MAX_NS_DECLS) {
                g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_FORBIDDEN,
                             "more than %u namespace declarations",
                             UFFD_SHIM_XML_MAX_NS_DECLS);
                return FALSE;
            }
        } else if (uffd_shim_xml_is_space (c)) {
            in_name = FALSE;
        } else if (!in_name) {
            in_name = TRUE;
            name_start = i;
        }
    }
    *pos = i;
    return TRUE;
}

static gboolean
xml_prescan (const UffdShimXmlKind *kind, const char *data, gsize len, GError **error)
{
    guint ns_decls = 0;
    gsize i = 0;

    while (i < len) {
        const char *lt = memchr (data + i, '<', len - i);

        if (lt == NULL)
            return TRUE;
        i = (gsize) (lt - data) + 1;
        if (has_prefix_n (data + i, len - i, "!--")) {
            i = skip_past (data, len, i + 3, "-->");
        } else if (has_prefix_n (data + i, len - i, "![CDATA[")) {
            i = skip_past (data, len, i + 8, "]]>");
        } else if (has_prefix_n (data + i, len - i, "!")) {
            g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_FORBIDDEN,
                         "DOCTYPE and markup declarations are not allowed in %s", kind->what);
            return FALSE;
        } else if (has_prefix_n (data + i, len - i, "?")) {
            i = skip_past (data, len, i + 1, "?>");
        } else if (!has_prefix_n (data + i, len - i, "/")) {
            if (!prescan_start_tag (data, len, &i, &ns_decls, error))
                return FALSE;
        }
    }
    return TRUE;
}

typedef struct {
    gboolean saw_dtd;
} XmlParseState;

/* libxml2 prints some errors (encoding, I/O) through its generic handler
 * even with XML_PARSE_NOERROR; in the hook they would end up in libvirt's
 * error message next to ours, in the broker in its log. Silenced around our
 * calls, then restored. */
static void
xml_silent (void *ctx, const char *msg, ...)
{
}

UffdShimXmlErrorSave
uffd_shim_xml_silence (void)
{
    UffdShimXmlErrorSave save = { xmlGenericError, xmlGenericErrorContext };

    xmlSetGenericErrorFunc (NULL, xml_silent);
    return save;
}

void
uffd_shim_xml_unsilence (UffdShimXmlErrorSave *save)
{
    xmlSetGenericErrorFunc (save->ctx, save->func);
}

static void
xml_sax_internal_subset (void *ctx, const xmlChar *name,
                            const xmlChar *external_id, const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;
    XmlParseState *state = ctxt->_private;

    state->saw_dtd = TRUE;
    xmlStopParser (ctxt);
}

static void
xml_sax_entity_decl (void *ctx, const xmlChar *name, int type,
                        const xmlChar *public_id, const xmlChar *system_id,
                        xmlChar *content)
{
    xmlParserCtxtPtr ctxt = ctx;
    XmlParseState *state = ctxt->_private;

    state->saw_dtd = TRUE;
    xmlStopParser (ctxt);
}

static gboolean
tree_depth_exceeds (xmlNodePtr root, guint max)
{
    xmlNodePtr node = root;
    guint depth = 1;

    if (root->children == NULL)
        return depth > max;
    while (node != NULL) {
        if (node->type == XML_ELEMENT_NODE && depth > max)
            return TRUE;
        if (node->type == XML_ELEMENT_NODE && node->children != NULL) {
            node = node->children;
            depth++;
            continue;
        }
        while (node->next == NULL) {
            node = node->parent;
            depth--;
            if (node == root || node == NULL)
                return FALSE;
        }
        node = node->next;
    }
    return FALSE;
}

/* Steps 1 and 2 of the theory: size, emptiness, pre-scan. */
static gboolean
xml_check_input (const UffdShimXmlKind *kind, const char *data, gsize len, GError **error)
{
    if (len > kind->max_size) {
        g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_TOO_LARGE,
                     "%s is %" G_GSIZE_FORMAT " bytes, more than the %" G_GSIZE_FORMAT " allowed",
                     kind->what, len, kind->max_size);
        return FALSE;
    }
    if (data == NULL || len == 0) {
        g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_MALFORMED,
                     "%s is empty", kind->what);
        return FALSE;
    }
    return xml_prescan (kind, data, len, error);
}

/* Step 3: libxml2 with the safe options and the DTD tripwires. */
static xmlDocPtr
xml_libxml_parse (const UffdShimXmlKind *kind, const char *data, gsize len, GError **error)
{
    const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                        XML_PARSE_IGNORE_ENC;
    G_GNUC_UNUSED g_auto(UffdShimXmlErrorSave) silenced = uffd_shim_xml_silence ();
    g_autoptr(xmlParserCtxt) ctxt = xmlNewParserCtxt ();
    g_autoptr(xmlDoc) doc = NULL;
    XmlParseState state = { FALSE };
    const xmlError *err;
    g_autofree char *msg = NULL;

    if (ctxt == NULL) {
        g_set_error_literal (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_MALFORMED,
                             "cannot allocate an XML parser");
        return NULL;
    }
    ctxt->_private = &state;
    ctxt->sax->internalSubset = xml_sax_internal_subset;
    ctxt->sax->entityDecl = xml_sax_entity_decl;

    doc = xmlCtxtReadMemory (ctxt, data, (int) len, NULL, "UTF-8", options);
    if (state.saw_dtd || (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL))) {
        g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_FORBIDDEN,
                     "DOCTYPE and entity declarations are not allowed in %s", kind->what);
        return NULL;
    }
    if (doc != NULL && ctxt->wellFormed && ctxt->nsWellFormed)
        return g_steal_pointer (&doc);

    err = xmlCtxtGetLastError (ctxt);
    msg = g_strdup (err != NULL && err->message != NULL ? err->message : "parse error");
    g_strchomp (msg);
    g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_MALFORMED,
                 "malformed %s (line %d): %s", kind->what, err != NULL ? err->line : 0, msg);
    return NULL;
}

/* Step 4: the shape of the tree. */
static gboolean
xml_check_tree (const UffdShimXmlKind *kind, xmlDocPtr doc, GError **error)
{
    xmlNodePtr root = xmlDocGetRootElement (doc);

    if (root == NULL || root->ns != NULL || !xmlStrEqual (root->name, BAD_CAST kind->root)) {
        g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_INVALID,
                     "root element is not <%s>", kind->root);
        return FALSE;
    }
    if (tree_depth_exceeds (root, UFFD_SHIM_XML_MAX_DEPTH)) {
        g_set_error (error, UFFD_SHIM_XML_ERROR, UFFD_SHIM_XML_ERROR_FORBIDDEN,
                     "%s is nested deeper than %u elements", kind->what,
                     UFFD_SHIM_XML_MAX_DEPTH);
        return FALSE;
    }
    return TRUE;
}

xmlDoc *
uffd_shim_xml_read (const UffdShimXmlKind *kind, const char *data, gsize len, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;

    g_return_val_if_fail (kind != NULL && kind->max_size <= G_MAXINT, NULL);

    if (!xml_check_input (kind, data, len, error))
        return NULL;
    doc = xml_libxml_parse (kind, data, len, error);
    if (doc == NULL || !xml_check_tree (kind, doc, error))
        return NULL;
    return g_steal_pointer (&doc);
}

xmlNode *
uffd_shim_xml_child (xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent != NULL ? parent->children : NULL; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE && c->ns == NULL && xmlStrEqual (c->name, BAD_CAST name))
            return c;
    return NULL;
}
