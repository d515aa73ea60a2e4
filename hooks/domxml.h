/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pure libvirt domain XML helpers for the hook: safe parsing, extraction, preload insertion and removal. */
#ifndef UFFD_SHIM_DOMXML_H
#define UFFD_SHIM_DOMXML_H

#include <glib.h>

#include "libvirt-xml.h"

/* Largest domain XML accepted, in bytes. Real definitions are a few KiB. */
#define UFFD_SHIM_DOMXML_MAX_SIZE (4u * 1024u * 1024u)

#define UFFD_SHIM_DOMXML_NS       "http://uffd-shim.org/schemas/domain/1.0"
#define UFFD_SHIM_DOMXML_QEMU_NS  "http://libvirt.org/schemas/domain/qemu/1.0"
/* File name of the preload library: an LD_PRELOAD entry of this name, in
 * any directory, is uffd-shim's (another host's install keeps it elsewhere). */
#define UFFD_SHIM_DOMXML_PRELOAD_NAME "libuffd-shim-preload.so"

/* The <uffd-shim:postcopy enabled="..."/> opt-in element in <metadata>. */
typedef enum {
    UFFD_SHIM_OPT_IN_UNSET = 0, /* element absent */
    UFFD_SHIM_OPT_IN_YES,       /* enabled="yes" */
    UFFD_SHIM_OPT_IN_NO,        /* enabled="no" */
} UffdShimOptIn;

typedef struct {
    char *name;                /* <name>, never empty, < 256 bytes */
    guint8 uuid[16];           /* <uuid>, binary */
    char *emulator;            /* <devices><emulator>, NULL when absent */
    UffdShimOptIn postcopy;    /* <metadata><uffd-shim:postcopy/> */
} UffdShimDomainInfo;

void uffd_shim_domain_info_free (UffdShimDomainInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UffdShimDomainInfo, uffd_shim_domain_info_free)

/* Parses @data (@len bytes, need not be NUL-terminated) and extracts the
 * fields of UffdShimDomainInfo. Fails closed: anything unexpected (no or
 * duplicate <name>/<uuid>, a UUID not in canonical form, duplicate opt-in
 * elements, an enabled value other than yes/no, a DOCTYPE) is an error.
 * Errors of all three calls are in UFFD_SHIM_XML_ERROR (libvirt-xml.h):
 * TOO_LARGE over UFFD_SHIM_DOMXML_MAX_SIZE, INVALID for XML that is not a
 * usable domain. */
gboolean uffd_shim_domxml_parse_info (const char *data, gsize len,
                                      UffdShimDomainInfo **out,
                                      GError **error);

/* Returns in *out (NUL-terminated, g_free) the domain XML @data with
 * LD_PRELOAD=@preload set for QEMU through <qemu:commandline><qemu:env>.
 * Every existing LD_PRELOAD qemu:env gets @preload first (':'-separated,
 * without a second copy of it, and without other uffd-shim entries: @preload
 * itself or any path whose file name is UFFD_SHIM_DOMXML_PRELOAD_NAME); with
 * none, one qemu:env is appended to the first <qemu:commandline>, or a new
 * <qemu:commandline> to <domain>. Everything else of the input is kept.
 * *changed is FALSE when the input already had @preload first everywhere and
 * no other uffd-shim entry (then *out is still a copy). @preload must be an
 * absolute path without ':' or whitespace. */
gboolean uffd_shim_domxml_add_preload (const char *data, gsize len,
                                       const char *preload,
                                       char **out, gsize *out_len,
                                       gboolean *changed,
                                       GError **error);

/* The reverse, for a host where the preload does not apply to the domain:
 * returns in *out the domain XML @data with every uffd-shim entry (as above)
 * taken out of every LD_PRELOAD qemu:env; a qemu:env left without entries
 * goes, and so does a <qemu:commandline> it leaves without children. Other
 * entries and everything else of the input are kept. *changed is FALSE when
 * there was no uffd-shim entry (then *out is still a copy). @preload as
 * above. */
gboolean uffd_shim_domxml_remove_preload (const char *data, gsize len,
                                          const char *preload,
                                          char **out, gsize *out_len,
                                          gboolean *changed,
                                          GError **error);

#endif /* UFFD_SHIM_DOMXML_H */
