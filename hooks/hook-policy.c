/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pure decisions of the libvirt hook: does a domain get a grant, does its QEMU need the preload. */
#include "hook-policy.h"

static gboolean
name_listed (const char *const *patterns, const char *name)
{
    const char *const *p;

    for (p = patterns; p != NULL && *p != NULL; p++)
        if (g_pattern_match_simple (*p, name))
            return TRUE;
    return FALSE;
}

UffdShimHookDecision
uffd_shim_hook_decide (gboolean domain_allowed, gboolean opt_in,
                       const char *const *hook_domains, const char *name,
                       UffdShimOptIn metadata)
{
    if (!domain_allowed)
        return UFFD_SHIM_HOOK_SKIP_DENIED;
    if (metadata == UFFD_SHIM_OPT_IN_NO)
        return UFFD_SHIM_HOOK_SKIP_OPTED_OUT;
    if (!opt_in || metadata == UFFD_SHIM_OPT_IN_YES)
        return UFFD_SHIM_HOOK_GRANT;
    if (name != NULL && name_listed (hook_domains, name))
        return UFFD_SHIM_HOOK_GRANT;
    return UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN;
}

const char *
uffd_shim_hook_decision_str (UffdShimHookDecision decision)
{
    switch (decision) {
    case UFFD_SHIM_HOOK_GRANT:
        return "grant";
    case UFFD_SHIM_HOOK_SKIP_DENIED:
        return "excluded by [grants] allow-domains/deny-domains";
    case UFFD_SHIM_HOOK_SKIP_OPTED_OUT:
        return "opted out by <uffd-shim:postcopy enabled=\"no\"/>";
    case UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN:
        return "not opted in ([hook] opt-in is set)";
    }
    return "unknown";
}

gboolean
uffd_shim_hook_emulator_is_native (const char *emulator, const char *const *native_emulators)
{
    if (emulator == NULL || native_emulators == NULL)
        return FALSE;
    return g_strv_contains (native_emulators, emulator);
}
