/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of uffd-shimctl doctor's pure parts: parsers and verdicts on hand-made facts. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "doctor.h"

static UffdShimDoctorFacts *
healthy (void)
{
    UffdShimDoctorFacts *f = uffd_shim_doctor_facts_new ();
    UffdShimDoctorEmulator *e = g_new0 (UffdShimDoctorEmulator, 1);

    f->kernel_release = g_strdup ("6.1.0-13-amd64");
    f->dev_exists = f->dev_is_chr = TRUE;
    f->knob = 0;
    f->libvirt_found = TRUE;
    f->libvirt_version = g_strdup ("9.0.0");
    f->qemu_conf = g_strdup ("/etc/libvirt/qemu.conf");
    f->acl = UFFD_SHIM_DOCTOR_ACL_UNSET;
    f->client_socket = g_strdup ("/run/uffd-shim/uffd.sock");
    f->admin_socket = g_strdup ("/run/uffd-shim/admin.sock");
    f->socket_dir = g_strdup ("/run/uffd-shim");
    f->broker_status = 0;
    f->broker_pid = 42;
    f->client_st = (UffdShimDoctorStat) { .exists = TRUE, .is_socket = TRUE, .mode = 0666 };
    f->admin_st = (UffdShimDoctorStat) { .exists = TRUE, .is_socket = TRUE, .mode = 0600 };
    f->socket_dir_st = (UffdShimDoctorStat) { .exists = TRUE, .is_dir = TRUE, .mode = 0755 };
    f->hook_path = g_strdup ("/etc/libvirt/hooks/qemu.d/50-uffd-shim");
    f->hook_exists = f->hook_regular = f->hook_executable = f->hook_ours = TRUE;
    f->hook_mtime = 1000;
    f->libvirtd_pid = 7;
    f->libvirtd_name = g_strdup ("libvirtd");
    f->libvirtd_start = 2000;
    e->path = g_strdup ("/usr/bin/qemu-system-x86_64");
    e->version = g_strdup ("7.2.19");
    e->native = 0;
    g_ptr_array_add (f->emulators, e);
    f->yama_ptrace_scope = 1;
    return f;
}

static void
add_sysctl (UffdShimDoctorFacts *f, const char *path, const char *value)
{
    UffdShimDoctorSysctlFile *s = g_new0 (UffdShimDoctorSysctlFile, 1);

    s->path = g_strdup (path);
    s->value = g_strdup (value);
    g_ptr_array_add (f->sysctl_files, s);
}

/* The level of check @id (the first one with that id); -1 if absent. */
static int
level_of (const UffdShimDoctorFacts *f, const char *id, char **detail)
{
    g_autoptr (GPtrArray) r = uffd_shim_doctor_judge (f);

    for (guint i = 0; i < r->len; i++) {
        UffdShimDoctorResult *x = r->pdata[i];

        if (!g_str_equal (x->id, id))
            continue;
        g_assert_true (x->level == UFFD_SHIM_DOCTOR_PASS || (x->fix && *x->fix));
        if (detail)
            *detail = g_strdup (x->detail);
        return (int) x->level;
    }
    return -1;
}

static void
test_healthy (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();
    g_autoptr (GPtrArray) r = uffd_shim_doctor_judge (f);

    for (guint i = 0; i < r->len; i++) {
        UffdShimDoctorResult *x = r->pdata[i];

        g_test_message ("%s: %s (%s)", x->id, uffd_shim_doctor_level_str (x->level), x->detail);
        g_assert_cmpint (x->level, ==, UFFD_SHIM_DOCTOR_PASS);
        g_assert_null (x->fix);
    }
    g_assert_cmpuint (r->len, ==, 12);
}

static void
test_parsers (void)
{
    g_autofree char *v1 = uffd_shim_doctor_sysctl_value ("# vm.unprivileged_userfaultfd = 1\n"
                                                          "vm.unprivileged_userfaultfd = 1\n"
                                                          "vm.swappiness=10\n");
    g_autofree char *v2 = uffd_shim_doctor_sysctl_value ("-vm/unprivileged_userfaultfd=1\n"
                                                          "; vm.unprivileged_userfaultfd=5\n"
                                                          "  vm.unprivileged_userfaultfd =  0  \n");
    g_autofree char *v3 = uffd_shim_doctor_sysctl_value ("vm.unprivileged_userfaultfdx = 1\n");
    g_autofree char *lv = uffd_shim_doctor_parse_version ("libvirtd (libvirt) 10.1.0\n");
    g_autofree char *qv = uffd_shim_doctor_parse_version (
        "QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)\nCopyright (c) 2003-2022\n");

    g_assert_cmpstr (v1, ==, "1");
    g_assert_cmpstr (v2, ==, "0");
    g_assert_null (v3);
    g_assert_null (uffd_shim_doctor_sysctl_value (NULL));
    g_assert_cmpstr (lv, ==, "10.1.0");
    g_assert_cmpstr (qv, ==, "7.2.19");

    g_assert_true (uffd_shim_doctor_kernel_ok ("6.1.0-13-amd64"));
    g_assert_true (uffd_shim_doctor_kernel_ok ("6.18.44-fc"));
    g_assert_true (uffd_shim_doctor_kernel_ok ("7.0"));
    g_assert_false (uffd_shim_doctor_kernel_ok ("5.15.0-91-generic"));
    g_assert_false (uffd_shim_doctor_kernel_ok ("6.0.12"));
    g_assert_false (uffd_shim_doctor_kernel_ok ("garbage"));
    g_assert_false (uffd_shim_doctor_kernel_ok (NULL));
    g_assert_cmpint (uffd_shim_doctor_version_cmp ("10.1.0", "9.0"), >, 0);
    g_assert_cmpint (uffd_shim_doctor_version_cmp ("10.1", "10.1.0"), ==, 0);
    g_assert_cmpint (uffd_shim_doctor_version_cmp ("10.0.9", "10.1"), <, 0);

    g_assert_cmpint (uffd_shim_doctor_parse_acl ("#cgroup_device_acl = [\n#  \"/dev/userfaultfd\"\n#]\n"),
                     ==, UFFD_SHIM_DOCTOR_ACL_UNSET);
    g_assert_cmpint (uffd_shim_doctor_parse_acl ("cgroup_device_acl = [\n  \"/dev/null\",\n"
                                                 "  \"/dev/userfaultfd\"\n]\n"),
                     ==, UFFD_SHIM_DOCTOR_ACL_WITH);
    g_assert_cmpint (uffd_shim_doctor_parse_acl ("cgroup_device_acl=[\"/dev/null\", \"/dev/kvm\"]\n"
                                                 "# \"/dev/userfaultfd\"\n"),
                     ==, UFFD_SHIM_DOCTOR_ACL_WITHOUT);
    g_assert_cmpint (uffd_shim_doctor_parse_acl ("cgroup_device_acl = [ \"/dev/null\", # \"/dev/userfaultfd\"\n ]\n"),
                     ==, UFFD_SHIM_DOCTOR_ACL_WITHOUT);
    g_assert_cmpint (uffd_shim_doctor_parse_acl ("my_cgroup_device_acl = [ \"/dev/userfaultfd\" ]\n"),
                     ==, UFFD_SHIM_DOCTOR_ACL_UNSET);

    g_assert_cmpint (uffd_shim_doctor_parse_starttime (
                         "123 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20\n"),
                     ==, 424242);
    g_assert_cmpint (uffd_shim_doctor_parse_starttime ("123 (x) S 1 2"), ==, -1);
    g_assert_cmpint (uffd_shim_doctor_parse_starttime (NULL), ==, -1);
}

static void
test_kernel_and_knob (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();

    f->knob = 1;
    g_assert_cmpint (level_of (f, "knob", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->knob = -1;
    g_assert_cmpint (level_of (f, "knob", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    g_free (f->kernel_release);
    f->kernel_release = g_strdup ("5.15.0");
    g_assert_cmpint (level_of (f, "kernel", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
    g_free (f->kernel_release);
    f->kernel_release = g_strdup ("6.1.0");
    f->dev_is_chr = FALSE;
    g_assert_cmpint (level_of (f, "kernel", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
}

static void
test_sysctl_files (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();
    g_autofree char *d1 = NULL;

    add_sysctl (f, "/etc/sysctl.d/99-sysctl.conf", NULL);
    add_sysctl (f, "/usr/lib/sysctl.d/60-qemu-postcopy-migration.conf", "1");
    add_sysctl (f, "/etc/sysctl.conf", "0");
    g_assert_cmpint (level_of (f, "sysctl-files", &d1), ==, UFFD_SHIM_DOCTOR_WARN);
    g_assert_nonnull (strstr (d1, "/usr/lib/sysctl.d/60-qemu-postcopy-migration.conf"));

    /* Masked by a same-named file of higher precedence (ln -s /dev/null). */
    g_ptr_array_set_size (f->sysctl_files, 0);
    add_sysctl (f, "/etc/sysctl.d/60-qemu-postcopy-migration.conf", NULL);
    add_sysctl (f, "/usr/lib/sysctl.d/60-qemu-postcopy-migration.conf", "1");
    g_assert_cmpint (level_of (f, "sysctl-files", NULL), ==, UFFD_SHIM_DOCTOR_PASS);

    g_ptr_array_set_size (f->sysctl_files, 0);
    add_sysctl (f, "/etc/sysctl.conf", "1");
    g_assert_cmpint (level_of (f, "sysctl-files", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
}

static void
test_libvirt_acl (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();

    g_assert_cmpint (level_of (f, "libvirt-acl", NULL), ==, UFFD_SHIM_DOCTOR_PASS);
    f->acl = UFFD_SHIM_DOCTOR_ACL_WITH;
    g_assert_cmpint (level_of (f, "libvirt-acl", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->acl = UFFD_SHIM_DOCTOR_ACL_UNSET;
    g_free (f->libvirt_version);
    f->libvirt_version = g_strdup ("10.1.0");
    g_assert_cmpint (level_of (f, "libvirt-acl", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->acl = UFFD_SHIM_DOCTOR_ACL_WITHOUT;
    g_assert_cmpint (level_of (f, "libvirt-acl", NULL), ==, UFFD_SHIM_DOCTOR_PASS);
    f->acl = UFFD_SHIM_DOCTOR_ACL_UNKNOWN;
    g_clear_pointer (&f->libvirt_version, g_free);
    g_assert_cmpint (level_of (f, "libvirt-acl", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->libvirt_found = FALSE;
    g_assert_cmpint (level_of (f, "libvirt-acl", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
}

static void
test_broker_and_sockets (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();

    f->broker_status = -ECONNREFUSED;
    g_assert_cmpint (level_of (f, "broker", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
    f->broker_status = 0;
    f->client_st.mode = 0600;
    g_assert_cmpint (level_of (f, "sockets", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
    f->client_st.mode = 0666;
    f->admin_st.mode = 0666;
    g_assert_cmpint (level_of (f, "sockets", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->admin_st.mode = 0600;
    f->admin_st.uid = 1000;
    g_assert_cmpint (level_of (f, "sockets", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->admin_st.uid = 0;
    f->socket_dir_st.mode = 0777;
    g_assert_cmpint (level_of (f, "sockets", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
    f->socket_dir_st.mode = 0755;
    f->client_st.exists = FALSE;
    g_assert_cmpint (level_of (f, "sockets", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
}

static void
test_hook (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();

    g_assert_cmpint (level_of (f, "hook-loaded", NULL), ==, UFFD_SHIM_DOCTOR_PASS);
    f->libvirtd_start = 999; /* started before the hook was installed */
    g_assert_cmpint (level_of (f, "hook-loaded", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->other_hook_mtime = 500; /* but another qemu hook was there already */
    g_assert_cmpint (level_of (f, "hook-loaded", NULL), ==, UFFD_SHIM_DOCTOR_PASS);
    f->other_hook_mtime = 0;
    f->libvirtd_start = 1001; /* too close to tell */
    g_assert_cmpint (level_of (f, "hook-loaded", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->libvirtd_start = 0;
    g_assert_cmpint (level_of (f, "hook-loaded", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->libvirtd_pid = 0;
    g_assert_cmpint (level_of (f, "hook-loaded", NULL), ==, UFFD_SHIM_DOCTOR_PASS);
    f->hook_ours = FALSE;
    g_assert_cmpint (level_of (f, "hook", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
    f->hook_ours = TRUE;
    f->hook_executable = FALSE;
    g_assert_cmpint (level_of (f, "hook", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
    f->hook_exists = FALSE;
    g_assert_cmpint (level_of (f, "hook", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
    g_assert_cmpint (level_of (f, "hook-loaded", NULL), ==, -1);
}

static void
test_qemu (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();
    UffdShimDoctorEmulator *e = f->emulators->pdata[0];
    g_autofree char *d = NULL;

    e->native = 1;
    g_assert_cmpint (level_of (f, "qemu", &d), ==, UFFD_SHIM_DOCTOR_PASS);
    g_assert_nonnull (strstr (d, "native broker support: yes"));
    g_clear_pointer (&e->version, g_free);
    e->timed_out = TRUE;
    g_assert_cmpint (level_of (f, "qemu", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    g_ptr_array_set_size (f->emulators, 0);
    g_assert_cmpint (level_of (f, "qemu", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
}

/* A copy of the hook from another version is a WARN with the reinstall fix. */
static void
test_hook_stale (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();
    g_autofree char *d = NULL;

    f->hook_stale = TRUE;
    f->hook_binary = g_strdup ("/usr/libexec/uffd-shim-hook");
    g_assert_cmpint (level_of (f, "hook", &d), ==, UFFD_SHIM_DOCTOR_WARN);
    g_assert_nonnull (strstr (d, "not the installed version /usr/libexec/uffd-shim-hook"));
}

static void
test_lsm (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();

    f->apparmor_enabled = 0;
    g_assert_cmpint (level_of (f, "apparmor", NULL), ==, UFFD_SHIM_DOCTOR_PASS);
    f->apparmor_enabled = 1;
    g_assert_cmpint (level_of (f, "apparmor", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
    f->apparmor_qemu_rule = TRUE;
    f->apparmor_broker_loaded = 0;
    g_assert_cmpint (level_of (f, "apparmor", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->apparmor_broker_loaded = 1;
    g_assert_cmpint (level_of (f, "apparmor", NULL), ==, UFFD_SHIM_DOCTOR_PASS);

    f->selinux_enforce = 1;
    f->selinux_module = 0;
    g_assert_cmpint (level_of (f, "selinux", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
    f->selinux_enforce = 0;
    g_assert_cmpint (level_of (f, "selinux", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->selinux_module = -1;
    g_assert_cmpint (level_of (f, "selinux", NULL), ==, UFFD_SHIM_DOCTOR_WARN);
    f->selinux_module = 1;
    f->selinux_preload_module = 1;
    g_assert_cmpint (level_of (f, "selinux", NULL), ==, UFFD_SHIM_DOCTOR_PASS);
}

static void
test_isolation (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();
    g_autofree char *d1 = NULL, *d2 = NULL;

    g_assert_cmpint (level_of (f, "isolation", NULL), ==, UFFD_SHIM_DOCTOR_PASS);
    f->yama_ptrace_scope = 2;
    g_assert_cmpint (level_of (f, "isolation", NULL), ==, UFFD_SHIM_DOCTOR_PASS);
    /* No sVirt, and Yama lets a QEMU attach to another. */
    f->yama_ptrace_scope = 0;
    g_assert_cmpint (level_of (f, "isolation", &d1), ==, UFFD_SHIM_DOCTOR_FAIL);
    g_assert_nonnull (strstr (d1, "Yama ptrace_scope 0"));
    f->yama_ptrace_scope = -1;
    g_assert_cmpint (level_of (f, "isolation", &d2), ==, UFFD_SHIM_DOCTOR_FAIL);
    g_assert_nonnull (strstr (d2, "no Yama"));
    /* sVirt: AppArmor enabled, or SELinux enforcing, unless qemu.conf turns it off. */
    f->apparmor_enabled = 1;
    g_assert_cmpint (level_of (f, "isolation", NULL), ==, UFFD_SHIM_DOCTOR_PASS);
    f->svirt_off = TRUE;
    g_assert_cmpint (level_of (f, "isolation", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
    f->apparmor_enabled = 0;
    f->svirt_off = FALSE;
    f->selinux_enforce = 0;
    g_assert_cmpint (level_of (f, "isolation", NULL), ==, UFFD_SHIM_DOCTOR_FAIL);
    f->selinux_enforce = 1;
    g_assert_cmpint (level_of (f, "isolation", NULL), ==, UFFD_SHIM_DOCTOR_PASS);

    g_assert_false (uffd_shim_doctor_parse_svirt_off (NULL));
    g_assert_false (uffd_shim_doctor_parse_svirt_off ("#security_driver = \"none\"\n"));
    g_assert_false (uffd_shim_doctor_parse_svirt_off ("security_driver = \"apparmor\"\n"));
    g_assert_true (uffd_shim_doctor_parse_svirt_off ("security_driver = \"none\"\n"));
    g_assert_true (uffd_shim_doctor_parse_svirt_off ("x = 1\nsecurity_driver=[ \"none\" ]\n"));
    g_assert_false (uffd_shim_doctor_parse_svirt_off ("security_driver = [ \"selinux\", \"none\" ]\n"));
    g_assert_true (uffd_shim_doctor_parse_svirt_off ("security_default_confined = 0\n"));
    g_assert_false (uffd_shim_doctor_parse_svirt_off ("security_default_confined = 1\n"));
    g_assert_false (uffd_shim_doctor_parse_svirt_off ("my_security_driver = \"none\"\n"));
    /* The last setting counts. */
    g_assert_false (uffd_shim_doctor_parse_svirt_off ("security_driver = \"none\"\nsecurity_driver = \"selinux\"\n"));
}

/* The first result with @id: its level, detail and fix (owned by the caller). */
static UffdShimDoctorLevel
verdict (const UffdShimDoctorFacts *f, const char *id, char **detail, char **fix)
{
    g_autoptr (GPtrArray) r = uffd_shim_doctor_judge (f);

    for (guint i = 0; i < r->len; i++) {
        UffdShimDoctorResult *x = r->pdata[i];

        if (g_str_equal (x->id, id)) {
            *detail = g_strdup (x->detail);
            *fix = g_strdup (x->fix);
            return x->level;
        }
    }
    g_assert_not_reached ();
}

/* SELinux enforcing, QEMU confined: which path works, and the exact command. */
static void
test_selinux_paths (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();
    g_autofree char *d = NULL, *fix = NULL;

    f->selinux_enforce = 1;
    f->selinux_module = 0;
    f->selinux_preload_module = 0;
    /* Stock QEMU, nothing loaded: both modules, or the patched QEMU. */
    g_assert_cmpint (verdict (f, "selinux", &d, &fix), ==, UFFD_SHIM_DOCTOR_FAIL);
    g_assert_nonnull (strstr (fix, "semodule -i /usr/share/selinux/packages/uffd-shim/uffd_shim.pp"));
    g_assert_nonnull (strstr (fix, "semodule -i /usr/share/selinux/packages/uffd-shim/uffd_shim_preload.pp"));
    g_assert_nonnull (strstr (fix, "natively patched QEMU"));
    g_clear_pointer (&d, g_free);
    g_clear_pointer (&fix, g_free);

    /* uffd_shim loaded, stock QEMU: the preload is dropped (AT_SECURE). */
    f->selinux_module = 1;
    g_assert_cmpint (verdict (f, "selinux", &d, &fix), ==, UFFD_SHIM_DOCTOR_FAIL);
    g_assert_nonnull (strstr (d, "AT_SECURE"));
    g_assert_nonnull (strstr (fix, "uffd_shim_preload.pp"));
    g_assert_nonnull (strstr (fix, "noatsecure"));
    g_assert_nonnull (strstr (fix, "qemu-patches/build.sh"));
    g_clear_pointer (&d, g_free);
    g_clear_pointer (&fix, g_free);

    /* Only patched QEMUs: uffd_shim alone is enough, no noatsecure. */
    ((UffdShimDoctorEmulator *) f->emulators->pdata[0])->native = 1;
    g_assert_cmpint (verdict (f, "selinux", &d, &fix), ==, UFFD_SHIM_DOCTOR_PASS);
    g_assert_nonnull (strstr (d, "natively patched"));
    g_clear_pointer (&d, g_free);
    g_clear_pointer (&fix, g_free);
    f->selinux_module = 0;
    g_assert_cmpint (verdict (f, "selinux", &d, &fix), ==, UFFD_SHIM_DOCTOR_FAIL);
    g_assert_null (strstr (fix, "uffd_shim_preload"));
    g_clear_pointer (&d, g_free);
    g_clear_pointer (&fix, g_free);

    /* Stock QEMU with both modules: PASS. Permissive: WARN, not FAIL. */
    ((UffdShimDoctorEmulator *) f->emulators->pdata[0])->native = 0;
    f->selinux_module = f->selinux_preload_module = 1;
    g_assert_cmpint (verdict (f, "selinux", &d, &fix), ==, UFFD_SHIM_DOCTOR_PASS);
    g_clear_pointer (&d, g_free);
    g_clear_pointer (&fix, g_free);
    f->selinux_preload_module = 0;
    f->selinux_enforce = 0;
    g_assert_cmpint (verdict (f, "selinux", &d, &fix), ==, UFFD_SHIM_DOCTOR_WARN);
    g_clear_pointer (&d, g_free);
    g_clear_pointer (&fix, g_free);

    /* libvirt does not confine QEMU with SELinux: nothing needed. */
    f->selinux_enforce = 1;
    f->selinux_module = f->selinux_preload_module = 0;
    f->security_driver = UFFD_SHIM_DOCTOR_SECDRV_NONE;
    g_assert_cmpint (verdict (f, "selinux", &d, &fix), ==, UFFD_SHIM_DOCTOR_PASS);
    g_clear_pointer (&d, g_free);
    g_clear_pointer (&fix, g_free);
    f->security_driver = UFFD_SHIM_DOCTOR_SECDRV_APPARMOR;
    g_assert_cmpint (verdict (f, "selinux", &d, &fix), ==, UFFD_SHIM_DOCTOR_PASS);
    g_clear_pointer (&d, g_free);
    g_clear_pointer (&fix, g_free);
    f->security_driver = UFFD_SHIM_DOCTOR_SECDRV_SELINUX;
    g_assert_cmpint (verdict (f, "selinux", &d, &fix), ==, UFFD_SHIM_DOCTOR_FAIL);
}

/* AppArmor confinement: the drop-in decides; the preload works (ix exec). */
static void
test_apparmor_paths (void)
{
    g_autoptr (UffdShimDoctorFacts) f = healthy ();
    g_autofree char *d = NULL, *fix = NULL;

    f->apparmor_enabled = 1;
    g_assert_cmpint (verdict (f, "apparmor", &d, &fix), ==, UFFD_SHIM_DOCTOR_FAIL);
    g_assert_nonnull (strstr (fix, "install -D -m 0644 /usr/share/uffd-shim/apparmor/uffd-shim-qemu "
                                   "/etc/apparmor.d/abstractions/libvirt-qemu.d/uffd-shim"));
    g_assert_nonnull (strstr (fix, "include if exists <abstractions/libvirt-qemu.d>"));
    g_clear_pointer (&d, g_free);
    g_clear_pointer (&fix, g_free);
    f->security_driver = UFFD_SHIM_DOCTOR_SECDRV_NONE;
    g_assert_cmpint (verdict (f, "apparmor", &d, &fix), ==, UFFD_SHIM_DOCTOR_PASS);
    g_assert_nonnull (strstr (d, "does not confine QEMU"));
    g_clear_pointer (&d, g_free);
    g_clear_pointer (&fix, g_free);
    f->security_driver = UFFD_SHIM_DOCTOR_SECDRV_UNSET;
    f->apparmor_qemu_rule = TRUE;
    f->apparmor_broker_loaded = 1;
    g_assert_cmpint (verdict (f, "apparmor", &d, &fix), ==, UFFD_SHIM_DOCTOR_PASS);
    g_assert_nonnull (strstr (d, "the preload and a patched QEMU both work"));
}

static void
test_security_driver (void)
{
    g_assert_cmpuint (uffd_shim_doctor_parse_security_driver (NULL), ==, UFFD_SHIM_DOCTOR_SECDRV_UNSET);
    g_assert_cmpuint (uffd_shim_doctor_parse_security_driver ("#security_driver = \"selinux\"\n"), ==,
                      UFFD_SHIM_DOCTOR_SECDRV_UNSET);
    g_assert_cmpuint (uffd_shim_doctor_parse_security_driver ("security_driver = \"none\"\n"), ==,
                      UFFD_SHIM_DOCTOR_SECDRV_NONE);
    g_assert_cmpuint (uffd_shim_doctor_parse_security_driver ("security_driver=\"apparmor\""), ==,
                      UFFD_SHIM_DOCTOR_SECDRV_APPARMOR);
    g_assert_cmpuint (uffd_shim_doctor_parse_security_driver ("security_driver = [ \"selinux\",\n \"dac\" ]\nx = \"apparmor\"\n"),
                      ==, UFFD_SHIM_DOCTOR_SECDRV_SELINUX | UFFD_SHIM_DOCTOR_SECDRV_OTHER);
    g_assert_cmpuint (uffd_shim_doctor_parse_security_driver ("my_security_driver = \"none\"\n"), ==,
                      UFFD_SHIM_DOCTOR_SECDRV_UNSET);
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
    g_test_add_func ("/doctor/healthy", test_healthy);
    g_test_add_func ("/doctor/parsers", test_parsers);
    g_test_add_func ("/doctor/kernel-knob", test_kernel_and_knob);
    g_test_add_func ("/doctor/sysctl-files", test_sysctl_files);
    g_test_add_func ("/doctor/libvirt-acl", test_libvirt_acl);
    g_test_add_func ("/doctor/broker-sockets", test_broker_and_sockets);
    g_test_add_func ("/doctor/hook", test_hook);
    g_test_add_func ("/doctor/qemu", test_qemu);
    g_test_add_func ("/doctor/lsm", test_lsm);
    g_test_add_func ("/doctor/isolation", test_isolation);
    g_test_add_func ("/doctor/hook-stale", test_hook_stale);
    g_test_add_func ("/doctor/selinux-paths", test_selinux_paths);
    g_test_add_func ("/doctor/apparmor-paths", test_apparmor_paths);
    g_test_add_func ("/doctor/security-driver", test_security_driver);
    return g_test_run ();
}
