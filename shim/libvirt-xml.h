/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one reader of libvirt's XML documents (domain XML, status XML): size cap, pre-scan, libxml2 without DTDs, depth limit. */
#ifndef UFFD_SHIM_LIBVIRT_XML_H
#define UFFD_SHIM_LIBVIRT_XML_H

#include <glib.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

/* Deepest element nesting accepted (libvirt's own XML, status XML included,
 * needs fewer than 10). */
#define UFFD_SHIM_XML_MAX_DEPTH 64u
/* Most attributes accepted on one element (libxml2 2.9 checks duplicates
 * quadratically, so an unbounded count would be a CPU sink). */
#define UFFD_SHIM_XML_MAX_ATTRS 256u
/* Namespace declarations accepted in one document. */
#define UFFD_SHIM_XML_MAX_NS_DECLS 1024u

#define UFFD_SHIM_XML_ERROR (uffd_shim_xml_error_quark ())
GQuark uffd_shim_xml_error_quark (void);

typedef enum {
    UFFD_SHIM_XML_ERROR_TOO_LARGE, /* over the document's size cap */
    UFFD_SHIM_XML_ERROR_FORBIDDEN, /* DOCTYPE, entity declaration, too deep, too many attributes */
    UFFD_SHIM_XML_ERROR_MALFORMED, /* empty, or not well-formed XML */
    UFFD_SHIM_XML_ERROR_INVALID,   /* well-formed, but not the document expected */
} UffdShimXmlError;

/* What kind of document is read. */
typedef struct {
    const char *what;  /* "domain XML", "status XML": named in the messages */
    const char *root;  /* name of the root element, which has no namespace */
    gsize max_size;    /* largest document accepted, in bytes */
} UffdShimXmlKind;

/* Parses @data (@len bytes, need not be NUL-terminated) as a document of
 * kind @kind, the one way every libvirt XML is parsed in the project (see
 * the theory in libvirt-xml.c). Returns the tree (xmlFreeDoc() it), or NULL
 * with @error set in UFFD_SHIM_XML_ERROR. */
xmlDoc *uffd_shim_xml_read (const UffdShimXmlKind *kind, const char *data, gsize len,
                            GError **error);

/* libxml2's generic error handler, silenced (libxml2 prints some errors
 * there even with XML_PARSE_NOERROR) until the value returned is given to
 * uffd_shim_xml_unsilence(); g_auto(UffdShimXmlErrorSave) does that at the
 * end of the scope. */
typedef struct {
    xmlGenericErrorFunc func;
    void *ctx;
} UffdShimXmlErrorSave;
UffdShimXmlErrorSave uffd_shim_xml_silence (void);
void uffd_shim_xml_unsilence (UffdShimXmlErrorSave *save);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (UffdShimXmlErrorSave, uffd_shim_xml_unsilence)

/* Is @c white space in XML (space, tab, newline, carriage return)? */
gboolean uffd_shim_xml_is_space (char c);

/* The first child element of @parent called @name in no namespace; NULL when
 * there is none (or @parent is NULL). */
xmlNode *uffd_shim_xml_child (xmlNode *parent, const char *name);

#endif /* UFFD_SHIM_LIBVIRT_XML_H */
