/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of hooks/hook-policy.c: which domains get a grant and which QEMU gets the preload. */
#include <glib.h>

#include "hook-policy.h"

static void
test_decide_default_mode (void)
{
    /* opt-in off: every allowed domain is eligible unless it opts out. */
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, FALSE, NULL, "a", UFFD_SHIM_OPT_IN_UNSET), ==,
                     UFFD_SHIM_HOOK_GRANT);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, FALSE, NULL, "a", UFFD_SHIM_OPT_IN_YES), ==,
                     UFFD_SHIM_HOOK_GRANT);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, FALSE, NULL, "a", UFFD_SHIM_OPT_IN_NO), ==,
                     UFFD_SHIM_HOOK_SKIP_OPTED_OUT);
}

static void
test_decide_opt_in_mode (void)
{
    static const char *const domains[] = { "db-*", "cache", NULL };

    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, domains, "db-7", UFFD_SHIM_OPT_IN_UNSET), ==,
                     UFFD_SHIM_HOOK_GRANT);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, domains, "cache", UFFD_SHIM_OPT_IN_UNSET), ==,
                     UFFD_SHIM_HOOK_GRANT);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, domains, "web", UFFD_SHIM_OPT_IN_UNSET), ==,
                     UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, domains, "web", UFFD_SHIM_OPT_IN_YES), ==,
                     UFFD_SHIM_HOOK_GRANT);
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, NULL, "web", UFFD_SHIM_OPT_IN_UNSET), ==,
                     UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN);
    /* A listed domain can still opt out. */
    g_assert_cmpint (uffd_shim_hook_decide (TRUE, TRUE, domains, "db-7", UFFD_SHIM_OPT_IN_NO), ==,
                     UFFD_SHIM_HOOK_SKIP_OPTED_OUT);
}

static void
test_decide_deny_wins (void)
{
    static const char *const domains[] = { "*", NULL };

    g_assert_cmpint (uffd_shim_hook_decide (FALSE, FALSE, NULL, "a", UFFD_SHIM_OPT_IN_YES), ==,
                     UFFD_SHIM_HOOK_SKIP_DENIED);
    g_assert_cmpint (uffd_shim_hook_decide (FALSE, TRUE, domains, "a", UFFD_SHIM_OPT_IN_YES), ==,
                     UFFD_SHIM_HOOK_SKIP_DENIED);
}

static void
test_decision_str (void)
{
    g_assert_cmpstr (uffd_shim_hook_decision_str (UFFD_SHIM_HOOK_GRANT), ==, "grant");
    g_assert_nonnull (uffd_shim_hook_decision_str (UFFD_SHIM_HOOK_SKIP_NOT_OPTED_IN));
}

static void
test_native_emulator (void)
{
    static const char *const native[] = { "/usr/bin/qemu-system-x86_64", NULL };

    g_assert_true (uffd_shim_hook_emulator_is_native ("/usr/bin/qemu-system-x86_64", native));
    g_assert_false (uffd_shim_hook_emulator_is_native ("/usr/libexec/qemu-kvm", native));
    /* Exact paths only: no prefix or pattern matching. */
    g_assert_false (uffd_shim_hook_emulator_is_native ("/usr/bin/qemu-system-x86_64x", native));
    g_assert_false (uffd_shim_hook_emulator_is_native (NULL, native));
    g_assert_false (uffd_shim_hook_emulator_is_native ("/usr/bin/qemu-system-x86_64", NULL));
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/hook-policy/decide/default-mode", test_decide_default_mode);
    g_test_add_func ("/hook-policy/decide/opt-in-mode", test_decide_opt_in_mode);
    g_test_add_func ("/hook-policy/decide/deny-wins", test_decide_deny_wins);
    g_test_add_func ("/hook-policy/decision-str", test_decision_str);
    g_test_add_func ("/hook-policy/native-emulator", test_native_emulator);
    return g_test_run ();
}
