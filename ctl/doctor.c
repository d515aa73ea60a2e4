/* SPDX-License-Identifier: GPL-2.0-or-later */
/* uffd-shimctl doctor: gathers host facts, judges them, prints a virt-host-validate style report. */
#include "doctor.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin-client.h"
#include "build-config.h"
#include "facts.h"
#include "hook-policy.h"
#include "install.h"

#define KNOB "vm.unprivileged_userfaultfd"
#define APPARMOR_BROKER_PROFILE "uffd-shimd"
#define APPARMOR_QEMU_LOCAL "/etc/apparmor.d/local/abstractions/libvirt-qemu"
#define APPARMOR_QEMU_ABSTRACTION "uffd-shim-qemu"
#define SELINUX_MODULE "uffd_shim"
#define SELINUX_PRELOAD_MODULE "uffd_shim_preload"
#define SHARE_DIR "/usr/share/uffd-shim"
/* Compiled modules (built when the package is; sources in SHARE_DIR/selinux). */
#define SELINUX_PP_DIR "/usr/share/selinux/packages/uffd-shim"
/* libvirt's drop-in directory for the QEMU abstraction (upstream), and ours in it. */
#define APPARMOR_QEMU_ABSTRACTION_FILE "/etc/apparmor.d/abstractions/libvirt-qemu"
#define APPARMOR_QEMU_DROPIN "/etc/apparmor.d/abstractions/libvirt-qemu.d/uffd-shim"

/* ---- results ------------------------------------------------------------ */

const char *
uffd_shim_doctor_level_str (UffdShimDoctorLevel level)
{
    switch (level) {
    case UFFD_SHIM_DOCTOR_PASS: return "PASS";
    case UFFD_SHIM_DOCTOR_WARN: return "WARN";
    case UFFD_SHIM_DOCTOR_FAIL: return "FAIL";
    }
    return "?";
}

void
uffd_shim_doctor_result_free (UffdShimDoctorResult *r)
{
    if (!r)
        return;
    g_free (r->id);
    g_free (r->name);
    g_free (r->detail);
    g_free (r->fix);
    g_free (r);
}

static void
sysctl_file_free (gpointer p)
{
    UffdShimDoctorSysctlFile *s = p;

    g_free (s->path);
    g_free (s->value);
    g_free (s);
}

static void
emulator_free (gpointer p)
{
    UffdShimDoctorEmulator *e = p;

    g_free (e->path);
    g_free (e->version);
    g_free (e);
}

UffdShimDoctorFacts *
uffd_shim_doctor_facts_new (void)
{
    UffdShimDoctorFacts *f = g_new0 (UffdShimDoctorFacts, 1);

    f->knob = -1;
    f->sysctl_files = g_ptr_array_new_with_free_func (sysctl_file_free);
    f->emulators = g_ptr_array_new_with_free_func (emulator_free);
    f->broker_status = -ENOENT;
    f->apparmor_enabled = -1;
    f->apparmor_broker_loaded = -1;
    f->selinux_enforce = -1;
    f->selinux_module = -1;
    f->yama_ptrace_scope = -1;
    f->selinux_preload_module = -1;
    return f;
}

void
uffd_shim_doctor_facts_free (UffdShimDoctorFacts *f)
{
    if (!f)
        return;
    g_free (f->kernel_release);
    g_ptr_array_unref (f->sysctl_files);
    g_free (f->libvirt_version);
    g_free (f->qemu_conf);
    g_free (f->client_socket);
    g_free (f->admin_socket);
    g_free (f->socket_dir);
    g_free (f->hook_path);
    g_free (f->hook_binary);
    g_free (f->libvirtd_name);
    g_ptr_array_unref (f->emulators);
    g_free (f);
}

/* Adds a result; @fix may be NULL. Takes ownership of @detail and @fix. */
static void
add (GPtrArray *out, const char *id, const char *name, UffdShimDoctorLevel level,
     char *detail, char *fix)
{
    UffdShimDoctorResult *r = g_new0 (UffdShimDoctorResult, 1);

    r->id = g_strdup (id);
    r->name = g_strdup (name);
    r->level = level;
    r->detail = detail;
    r->fix = level == UFFD_SHIM_DOCTOR_PASS ? (g_free (fix), NULL) : fix;
    g_ptr_array_add (out, r);
}

/* ---- pure helpers ------------------------------------------------------- */

int
uffd_shim_doctor_version_cmp (const char *a, const char *b)
{
    const char *pa = a, *pb = b;

    for (int i = 0; i < 4; i++) {
        guint64 va = 0, vb = 0;

        if (pa && g_ascii_isdigit (*pa))
            va = g_ascii_strtoull (pa, (char **) &pa, 10);
        if (pb && g_ascii_isdigit (*pb))
            vb = g_ascii_strtoull (pb, (char **) &pb, 10);
        if (va != vb)
            return va < vb ? -1 : 1;
        pa = pa && *pa == '.' ? pa + 1 : NULL;
        pb = pb && *pb == '.' ? pb + 1 : NULL;
    }
    return 0;
}

gboolean
uffd_shim_doctor_kernel_ok (const char *release)
{
    if (!release || !g_ascii_isdigit (release[0]))
        return FALSE;
    return uffd_shim_doctor_version_cmp (release, "6.1") >= 0;
}

char *
uffd_shim_doctor_sysctl_value (const char *text)
{
    g_auto (GStrv) lines = NULL;
    char *value = NULL;

    if (!text)
        return NULL;
    lines = g_strsplit (text, "\n", -1);
    for (char **l = lines; *l; l++) {
        char *line = g_strstrip (*l), *eq;
        g_autofree char *key = NULL;

        if (*line == '\0' || *line == '#' || *line == ';')
            continue;
        if (*line == '-')
            line++;
        eq = strchr (line, '=');
        if (!eq)
            continue;
        key = g_strstrip (g_strndup (line, (gsize) (eq - line)));
        /* sysctl.d(5): "/" separators are the same as ".". */
        g_strdelimit (key, "/", '.');
        if (!g_str_equal (key, KNOB))
            continue;
        g_free (value);
        value = g_strstrip (g_strdup (eq + 1));
    }
    return value;
}

/* Removes "#..." comments (qemu.conf has no "#" inside strings we care about). */
static char *
strip_comments (const char *text)
{
    GString *s = g_string_new (NULL);
    gboolean in_str = FALSE, in_comment = FALSE;

    for (const char *p = text; *p; p++) {
        if (in_comment) {
            if (*p == '\n') {
                in_comment = FALSE;
                g_string_append_c (s, '\n');
            }
            continue;
        }
        if (*p == '"')
            in_str = !in_str;
        if (*p == '#' && !in_str) {
            in_comment = TRUE;
            continue;
        }
        g_string_append_c (s, *p);
    }
    return g_string_free (s, FALSE);
}

UffdShimDoctorAcl
uffd_shim_doctor_parse_acl (const char *text)
{
    g_autofree char *clean = NULL;
    const char *p, *end;

    if (!text)
        return UFFD_SHIM_DOCTOR_ACL_UNSET;
    clean = strip_comments (text);
    for (p = clean; (p = strstr (p, "cgroup_device_acl")) != NULL; p++) {
        const char *q = p + strlen ("cgroup_device_acl");

        /* A whole key at the start of a line, followed by "=". */
        if (p != clean && !g_ascii_isspace (p[-1]))
            continue;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != '=')
            continue;
        q = strchr (q, '[');
        if (!q)
            return UFFD_SHIM_DOCTOR_ACL_WITHOUT;
        end = strchr (q, ']');
        for (const char *s = q; s && (!end || s < end); s = strchr (s + 1, '"')) {
            if (*s == '"' && g_str_has_prefix (s + 1, "/dev/userfaultfd\""))
                return UFFD_SHIM_DOCTOR_ACL_WITH;
        }
        return UFFD_SHIM_DOCTOR_ACL_WITHOUT;
    }
    return UFFD_SHIM_DOCTOR_ACL_UNSET;
}

/* The value of key @key at the start of a line of @clean (comments
 * stripped), up to the end of that line or of a [...] list; NULL if unset. */
static char *
conf_value (const char *clean, const char *key)
{
    char *found = NULL;

    for (const char *p = clean; (p = strstr (p, key)) != NULL; p++) {
        const char *q = p + strlen (key), *end;

        if ((p != clean && p[-1] != '\n') || (*q != ' ' && *q != '\t' && *q != '='))
            continue;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q++ != '=')
            continue;
        while (*q == ' ' || *q == '\t')
            q++;
        end = *q == '[' ? strchr (q, ']') : strchr (q, '\n');
        g_free (found); /* the last one counts */
        found = end ? g_strndup (q, (gsize) (end - q + (*q == '['))) : g_strdup (q);
    }
    return found;
}

gboolean
uffd_shim_doctor_parse_svirt_off (const char *text)
{
    g_autofree char *clean = NULL, *confined = NULL;

    if (!text)
        return FALSE;
    if (uffd_shim_doctor_parse_security_driver (text) == UFFD_SHIM_DOCTOR_SECDRV_NONE)
        return TRUE;
    clean = strip_comments (text);
    confined = conf_value (clean, "security_default_confined");
    return confined && g_ascii_isdigit (confined[0]) && g_ascii_strtoll (confined, NULL, 10) == 0;
}

guint
uffd_shim_doctor_parse_security_driver (const char *text)
{
    g_autofree char *clean = NULL;
    const char *p;
    guint bits = 0;

    if (!text)
        return UFFD_SHIM_DOCTOR_SECDRV_UNSET;
    clean = strip_comments (text);
    for (p = clean; (p = strstr (p, "security_driver")) != NULL; p++) {
        const char *q = p + strlen ("security_driver"), *end;

        if ((p != clean && !g_ascii_isspace (p[-1])))
            continue;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != '=')
            continue;
        q++;
        while (*q == ' ' || *q == '\t')
            q++;
        /* A string, or a list of strings (which may span lines). */
        end = *q == '[' ? strchr (q, ']') : strchr (q, '\n');
        bits = 0;
        for (const char *s = strchr (q, '"'); s && (!end || s < end); s = strchr (s + 1, '"')) {
            const char *e = strchr (s + 1, '"');
            g_autofree char *word = e ? g_strndup (s + 1, (gsize) (e - s - 1)) : NULL;

            if (!word)
                break;
            if (g_str_equal (word, "none"))
                bits |= UFFD_SHIM_DOCTOR_SECDRV_NONE;
            else if (g_str_equal (word, "selinux"))
                bits |= UFFD_SHIM_DOCTOR_SECDRV_SELINUX;
            else if (g_str_equal (word, "apparmor"))
                bits |= UFFD_SHIM_DOCTOR_SECDRV_APPARMOR;
            else
                bits |= UFFD_SHIM_DOCTOR_SECDRV_OTHER;
            s = e;
        }
        /* The last assignment wins, as in libvirt's parser. */
    }
    return bits;
}

char *
uffd_shim_doctor_parse_version (const char *text)
{
    const char *p;

    if (!text)
        return NULL;
    /* The first "N.N[.N]" word. */
    for (p = text; *p; p++) {
        const char *q = p;

        if (!g_ascii_isdigit (*p) || (p != text && !g_ascii_isspace (p[-1])))
            continue;
        while (g_ascii_isdigit (*q) || *q == '.')
            q++;
        if (memchr (p, '.', (gsize) (q - p)) && q[-1] != '.')
            return g_strndup (p, (gsize) (q - p));
    }
    return NULL;
}

gint64
uffd_shim_doctor_parse_starttime (const char *stat_text)
{
    UffdShimProcStat ps;

    if (!uffd_shim_parse_proc_stat (stat_text, &ps) || ps.starttime > G_MAXINT64)
        return -1;
    return (gint64) ps.starttime;
}

/* ---- verdicts ----------------------------------------------------------- */

static void
judge_kernel (const UffdShimDoctorFacts *f, GPtrArray *out)
{
    const char *name = "Linux >= 6.1 with /dev/userfaultfd";

    if (!uffd_shim_doctor_kernel_ok (f->kernel_release)) {
        add (out, "kernel", name, UFFD_SHIM_DOCTOR_FAIL,
             g_strdup_printf ("kernel %s is older than 6.1: it has no /dev/userfaultfd",
                              f->kernel_release ? f->kernel_release : "(unknown)"),
             g_strdup ("boot a Linux >= 6.1 kernel (Debian 12 and later, Ubuntu 24.04, RHEL 10)"));
        return;
    }
    if (!f->dev_exists || !f->dev_is_chr) {
        add (out, "kernel", name, UFFD_SHIM_DOCTOR_FAIL,
             g_strdup_printf ("kernel %s, but /dev/userfaultfd %s", f->kernel_release,
                              f->dev_exists ? "is not a character device" : "is missing"),
             g_strdup ("build the kernel with CONFIG_USERFAULTFD=y; recreate the node with "
                       "'mknod -m 0600 /dev/userfaultfd c 10 $(grep userfaultfd /proc/misc | cut -d\" \" -f1)'"));
        return;
    }
    add (out, "kernel", name, UFFD_SHIM_DOCTOR_PASS,
         g_strdup_printf ("kernel %s, /dev/userfaultfd is a character device", f->kernel_release), NULL);
}

static void
judge_knob (const UffdShimDoctorFacts *f, GPtrArray *out)
{
    const char *name = "vm.unprivileged_userfaultfd is 0";

    if (f->knob < 0)
        add (out, "knob", name, UFFD_SHIM_DOCTOR_WARN,
             g_strdup ("/proc/sys/vm/unprivileged_userfaultfd cannot be read"),
             g_strdup ("check that the kernel has CONFIG_USERFAULTFD and /proc/sys is mounted"));
    else if (f->knob != 0)
        add (out, "knob", name, UFFD_SHIM_DOCTOR_WARN,
             g_strdup_printf ("the knob is %d: every process may create userfaultfds that "
                              "handle kernel-mode faults", f->knob),
             g_strdup ("the shim makes it unnecessary; set vm.unprivileged_userfaultfd=0 "
                       "('sysctl -w vm.unprivileged_userfaultfd=0' and remove the file that sets it)"));
    else
        add (out, "knob", name, UFFD_SHIM_DOCTOR_PASS, g_strdup ("the knob is 0"), NULL);
}

static void
judge_sysctl_files (const UffdShimDoctorFacts *f, GPtrArray *out)
{
    const char *name = "no sysctl file sets vm.unprivileged_userfaultfd";
    g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
    g_autoptr (GPtrArray) bad = g_ptr_array_new ();

    for (guint i = 0; i < f->sysctl_files->len; i++) {
        UffdShimDoctorSysctlFile *s = f->sysctl_files->pdata[i];
        g_autofree char *base = g_path_get_basename (s->path);
        gboolean shadowed;

        /* A file of the same name in a directory of higher precedence
         * (earlier in the list) replaces it; /etc/sysctl.conf is never shadowed. */
        shadowed = !g_str_equal (s->path, "/etc/sysctl.conf") &&
                   g_hash_table_contains (seen, base);
        if (!g_str_equal (s->path, "/etc/sysctl.conf"))
            g_hash_table_add (seen, (gpointer) g_intern_string (base));
        if (shadowed || !s->value || g_str_equal (s->value, "0"))
            continue;
        g_ptr_array_add (bad, s);
    }
    if (bad->len == 0) {
        add (out, "sysctl-files", name, UFFD_SHIM_DOCTOR_PASS,
             g_strdup ("no sysctl.conf/sysctl.d file turns the knob on"), NULL);
        return;
    }
    {
        g_autoptr (GString) s = g_string_new (NULL);
        g_autoptr (GString) fix = g_string_new ("the shim makes it unnecessary: ");

        for (guint i = 0; i < bad->len; i++) {
            UffdShimDoctorSysctlFile *b = bad->pdata[i];
            g_autofree char *base = g_path_get_basename (b->path);

            g_string_append_printf (s, "%s%s sets %s = %s", i ? "; " : "", b->path, KNOB, b->value);
            if (g_str_has_prefix (b->path, "/etc/"))
                g_string_append_printf (fix, "%sremove the line from %s", i ? "; " : "", b->path);
            else
                g_string_append_printf (fix, "%smask it with 'ln -s /dev/null /etc/sysctl.d/%s'",
                                        i ? "; " : "", base);
        }
        g_string_append (fix, "; then 'sysctl -w " KNOB "=0'");
        add (out, "sysctl-files", name, UFFD_SHIM_DOCTOR_WARN, g_strdup (s->str), g_strdup (fix->str));
    }
}

/* libvirt's default ACL (>= 10.1) without /dev/userfaultfd; %s is qemu.conf. */
#define FIX_ACL                                                                             \
    "set in %s: cgroup_device_acl = [ \"/dev/null\", \"/dev/full\", \"/dev/zero\", "         \
    "\"/dev/random\", \"/dev/urandom\", \"/dev/ptmx\", \"/dev/kvm\" ] (libvirt's default "     \
    "without /dev/userfaultfd), then restart libvirtd; the broker hands the device to "       \
    "migrating QEMUs only"

static void
judge_libvirt (const UffdShimDoctorFacts *f, GPtrArray *out)
{
    const char *name = "libvirt does not give /dev/userfaultfd to every domain";
    const char *conf = f->qemu_conf ? f->qemu_conf : "/etc/libvirt/qemu.conf";
    gboolean new_libvirt = f->libvirt_version &&
                           uffd_shim_doctor_version_cmp (f->libvirt_version, "10.1") >= 0;

    if (!f->libvirt_found) {
        add (out, "libvirt-acl", name, UFFD_SHIM_DOCTOR_WARN,
             g_strdup ("no libvirtd or virtqemud found: the hook needs libvirt"),
             g_strdup ("install libvirt (Debian: libvirt-daemon-system)"));
        return;
    }
    switch (f->acl) {
    case UFFD_SHIM_DOCTOR_ACL_WITH:
        add (out, "libvirt-acl", name, UFFD_SHIM_DOCTOR_WARN,
             g_strdup_printf ("cgroup_device_acl in %s lists /dev/userfaultfd: every domain's "
                              "QEMU may open it", conf),
             g_strdup_printf ("remove \"/dev/userfaultfd\" from cgroup_device_acl in %s, then "
                              "restart libvirtd", conf));
        return;
    case UFFD_SHIM_DOCTOR_ACL_WITHOUT:
        add (out, "libvirt-acl", name, UFFD_SHIM_DOCTOR_PASS,
             g_strdup_printf ("cgroup_device_acl in %s does not list /dev/userfaultfd", conf), NULL);
        return;
    case UFFD_SHIM_DOCTOR_ACL_UNSET:
    case UFFD_SHIM_DOCTOR_ACL_UNKNOWN:
        break;
    }
    if (!f->libvirt_version) {
        add (out, "libvirt-acl", name, UFFD_SHIM_DOCTOR_WARN,
             g_strdup_printf ("cgroup_device_acl is not set in %s and the libvirt version is "
                              "unknown (libvirt >= 10.1 gives /dev/userfaultfd to every domain "
                              "by default)", conf),
             g_strdup_printf (FIX_ACL, conf));
        return;
    }
    if (new_libvirt) {
        add (out, "libvirt-acl", name, UFFD_SHIM_DOCTOR_WARN,
             g_strdup_printf ("libvirt %s with the default cgroup_device_acl puts /dev/userfaultfd "
                              "into every domain's /dev", f->libvirt_version),
             g_strdup_printf (FIX_ACL, conf));
        return;
    }
    add (out, "libvirt-acl", name, UFFD_SHIM_DOCTOR_PASS,
         g_strdup_printf ("libvirt %s (< 10.1) with the default cgroup_device_acl", f->libvirt_version),
         NULL);
}

static const char *
broker_start_fix (void)
{
    return "start the broker: 'systemctl enable --now uffd-shimd.socket', or run "
           "'uffd-shimd --log syslog' under your service supervisor; check [broker] admin-socket";
}

static void
judge_broker (const UffdShimDoctorFacts *f, GPtrArray *out)
{
    const char *name = "uffd-shimd answers on its admin socket";

    if (f->broker_status == 0)
        add (out, "broker", name, UFFD_SHIM_DOCTOR_PASS,
             g_strdup_printf ("running, pid %" G_GINT64_FORMAT ", admin socket %s", f->broker_pid,
                              f->admin_socket),
             NULL);
    else if (f->broker_status < 0)
        add (out, "broker", name, UFFD_SHIM_DOCTOR_FAIL,
             g_strdup_printf ("cannot reach the broker at %s: %s", f->admin_socket,
                              uffd_shim_status_str (f->broker_status)),
             g_strdup (broker_start_fix ()));
    else
        add (out, "broker", name, UFFD_SHIM_DOCTOR_FAIL,
             g_strdup_printf ("the broker at %s refused the status request: %s", f->admin_socket,
                              uffd_shim_status_str (f->broker_status)),
             g_strdup ("run the doctor as root (the admin socket serves uid 0 only)"));
}

static void
judge_sockets (const UffdShimDoctorFacts *f, GPtrArray *out)
{
    const char *name = "broker socket permissions";
    const UffdShimDoctorStat *c = &f->client_st, *a = &f->admin_st, *d = &f->socket_dir_st;
    g_autoptr (GPtrArray) fails = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GPtrArray) fixes = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GPtrArray) warns = g_ptr_array_new_with_free_func (g_free);
    g_autofree char *detail = NULL, *fix = NULL;
    UffdShimDoctorLevel level;

    if (d->exists && (!d->is_dir || d->uid != 0 || (d->mode & 0022))) {
        g_ptr_array_add (fails, g_strdup_printf ("%s is %s, owner uid %u, mode %04o: others "
                                                 "could replace the sockets", f->socket_dir,
                                                 d->is_dir ? "a directory" : "not a directory",
                                                 (guint) d->uid, d->mode));
        g_ptr_array_add (fixes, g_strdup_printf ("'chown root:root %s; chmod 0755 %s'",
                                                 f->socket_dir, f->socket_dir));
    }
    if (!c->exists || !c->is_socket) {
        g_ptr_array_add (fails, g_strdup_printf ("client socket %s %s", f->client_socket,
                                                 c->exists ? "is not a socket" : "is missing"));
        g_ptr_array_add (fixes, g_strdup (broker_start_fix ()));
    } else if ((c->mode & 0006) != 0006) {
        g_ptr_array_add (fails, g_strdup_printf ("client socket %s has mode %04o: QEMU (an "
                                                 "unprivileged user) cannot connect",
                                                 f->client_socket, c->mode));
        g_ptr_array_add (fixes, g_strdup ("set [broker] socket-mode=0666 (SocketMode=0666 in "
                                          "uffd-shimd.socket) and restart the broker"));
    }
    if (!a->exists || !a->is_socket) {
        g_ptr_array_add (fails, g_strdup_printf ("admin socket %s %s", f->admin_socket,
                                                 a->exists ? "is not a socket" : "is missing"));
        g_ptr_array_add (fixes, g_strdup (broker_start_fix ()));
    } else if (a->uid != 0 || (a->mode & 0077)) {
        g_ptr_array_add (warns, g_strdup_printf ("admin socket %s has owner uid %u, mode %04o "
                                                 "(expected root, 0600; the broker still "
                                                 "refuses other uids)", f->admin_socket,
                                                 (guint) a->uid, a->mode));
        g_ptr_array_add (fixes, g_strdup_printf ("'chown root:root %s; chmod 0600 %s' "
                                                 "(SocketMode=0600 in uffd-shimd.socket)",
                                                 f->admin_socket, f->admin_socket));
    }
    if (fails->len == 0 && warns->len == 0) {
        add (out, "sockets", name, UFFD_SHIM_DOCTOR_PASS,
             g_strdup_printf ("%s mode %04o; %s root-owned mode %04o", f->client_socket, c->mode,
                              f->admin_socket, a->mode),
             NULL);
        return;
    }
    level = fails->len > 0 ? UFFD_SHIM_DOCTOR_FAIL : UFFD_SHIM_DOCTOR_WARN;
    /* One fix per problem, each said once. */
    for (guint i = fixes->len; i-- > 1;)
        for (guint j = 0; j < i; j++)
            if (g_str_equal (fixes->pdata[i], fixes->pdata[j])) {
                g_ptr_array_remove_index (fixes, i);
                break;
            }
    g_ptr_array_extend_and_steal (fails, g_steal_pointer (&warns));
    g_ptr_array_add (fails, NULL);
    g_ptr_array_add (fixes, NULL);
    detail = g_strjoinv ("; ", (char **) fails->pdata);
    fix = g_strjoinv ("; ", (char **) fixes->pdata);
    add (out, "sockets", name, level, g_steal_pointer (&detail), g_steal_pointer (&fix));
}

static void
judge_hook (const UffdShimDoctorFacts *f, GPtrArray *out)
{
    const char *name = "libvirt qemu hook installed";
    const char *name2 = "libvirtd has read the hook";
    const char *reload = "run 'uffd-shimctl hook install --reload' (or 'systemctl reload libvirtd', "
                         "'kill -HUP <libvirtd pid>'; libvirtd reads its hooks at start and on SIGHUP)";

    if (!f->hook_exists) {
        add (out, "hook", name, UFFD_SHIM_DOCTOR_FAIL, g_strdup_printf ("%s is missing", f->hook_path),
             g_strdup ("uffd-shimctl hook install --reload"));
        return;
    }
    if (!f->hook_regular || !f->hook_ours) {
        add (out, "hook", name, UFFD_SHIM_DOCTOR_FAIL,
             g_strdup_printf ("%s is not uffd-shim's hook", f->hook_path),
             g_strdup_printf ("move that file away, then 'uffd-shimctl hook install --reload'"));
        return;
    }
    if (!f->hook_executable) {
        add (out, "hook", name, UFFD_SHIM_DOCTOR_FAIL,
             g_strdup_printf ("%s is not executable: libvirt skips it", f->hook_path),
             g_strdup ("uffd-shimctl hook install --reload"));
        return;
    }
    if (f->hook_stale) {
        add (out, "hook", name, UFFD_SHIM_DOCTOR_WARN,
             g_strdup_printf ("%s is uffd-shim's hook but not the installed version %s: a copy "
                              "left from another version (it may use another preload or "
                              "protocol)", f->hook_path, f->hook_binary),
             g_strdup ("uffd-shimctl hook install --reload"));
        return;
    }
    add (out, "hook", name, UFFD_SHIM_DOCTOR_PASS, g_strdup (f->hook_path), NULL);

    if (f->libvirtd_pid <= 0) {
        add (out, "hook-loaded", name2, UFFD_SHIM_DOCTOR_PASS,
             g_strdup ("libvirtd is not running; it reads the hook when it starts"), NULL);
        return;
    }
    if (f->libvirtd_start <= 0) {
        add (out, "hook-loaded", name2, UFFD_SHIM_DOCTOR_WARN,
             g_strdup_printf ("cannot tell when %s (pid %" G_GINT64_FORMAT ") started",
                              f->libvirtd_name ? f->libvirtd_name : "libvirtd", f->libvirtd_pid),
             g_strdup (reload));
        return;
    }
    /* Start times have a granularity of about a second: within 2 s, unsure. */
    if (f->libvirtd_start > f->hook_mtime + 1) {
        add (out, "hook-loaded", name2, UFFD_SHIM_DOCTOR_PASS,
             g_strdup_printf ("%s (pid %" G_GINT64_FORMAT ") started after the hook was installed",
                              f->libvirtd_name ? f->libvirtd_name : "libvirtd", f->libvirtd_pid),
             NULL);
        return;
    }
    if (f->other_hook_mtime > 0 && f->other_hook_mtime + 1 < f->libvirtd_start) {
        add (out, "hook-loaded", name2, UFFD_SHIM_DOCTOR_PASS,
             g_strdup_printf ("%s (pid %" G_GINT64_FORMAT ") started before the hook was installed, "
                              "but another qemu hook was in place then, so it runs qemu.d/ on "
                              "every call", f->libvirtd_name ? f->libvirtd_name : "libvirtd",
                              f->libvirtd_pid),
             NULL);
        return;
    }
    add (out, "hook-loaded", name2, UFFD_SHIM_DOCTOR_WARN,
         g_strdup_printf ("%s (pid %" G_GINT64_FORMAT ") started before the hook was installed: "
                          "unless it got SIGHUP since, it does not run the hook",
                          f->libvirtd_name ? f->libvirtd_name : "libvirtd", f->libvirtd_pid),
         g_strdup (reload));
}

static void
judge_qemu (const UffdShimDoctorFacts *f, GPtrArray *out)
{
    if (f->emulators->len == 0) {
        add (out, "qemu", "QEMU emulator", UFFD_SHIM_DOCTOR_FAIL,
             g_strdup ("none of the [qemu] emulators exists: the broker refuses every QEMU "
                       "(wrong-exe)"),
             g_strdup ("install QEMU (Debian: qemu-system-x86) or list its path in [qemu] emulators "
                       "of uffd-shim.conf"));
        return;
    }
    for (guint i = 0; i < f->emulators->len; i++) {
        UffdShimDoctorEmulator *e = f->emulators->pdata[i];
        g_autofree char *name = g_strdup_printf ("QEMU %s", e->path);
        const char *native = e->native < 0 ? "native broker support not checked"
                             : e->native   ? "native broker support: yes (no preload needed)"
                                           : "native broker support: no (the hook adds the preload)";

        if (!e->version)
            add (out, "qemu", name, UFFD_SHIM_DOCTOR_WARN,
                 g_strdup_printf ("'%s --version' %s", e->path,
                                  e->timed_out ? "did not answer in time" : "failed"),
                 g_strdup ("check the QEMU installation (run it with --version by hand)"));
        else
            add (out, "qemu", name, UFFD_SHIM_DOCTOR_PASS,
                 g_strdup_printf ("version %s; %s", e->version, native), NULL);
    }
}

/* Does libvirt confine QEMU with this LSM (@bit), given it is enabled? */
static gboolean
qemu_confined_by (const UffdShimDoctorFacts *f, guint bit, gboolean lsm_on)
{
    if (!lsm_on || (f->security_driver & UFFD_SHIM_DOCTOR_SECDRV_NONE))
        return FALSE;
    return f->security_driver == UFFD_SHIM_DOCTOR_SECDRV_UNSET || (f->security_driver & bit);
}

/* Which configured emulators are natively patched: all, some or none. */
static void
count_native (const UffdShimDoctorFacts *f, guint *native, guint *stock)
{
    *native = *stock = 0;
    for (guint i = 0; i < f->emulators->len; i++) {
        const UffdShimDoctorEmulator *e = f->emulators->pdata[i];

        if (e->native == 1)
            (*native)++;
        else
            (*stock)++;
    }
}

static void
judge_apparmor (const UffdShimDoctorFacts *f, GPtrArray *out)
{
    const char *name = "AppArmor policy for uffd-shim";

    if (f->apparmor_enabled <= 0) {
        add (out, "apparmor", name, UFFD_SHIM_DOCTOR_PASS,
             g_strdup (f->apparmor_enabled < 0 ? "AppArmor is not in the kernel"
                                                : "AppArmor is disabled"),
             NULL);
        return;
    }
    if (!qemu_confined_by (f, UFFD_SHIM_DOCTOR_SECDRV_APPARMOR, TRUE)) {
        add (out, "apparmor", name, UFFD_SHIM_DOCTOR_PASS,
             g_strdup ("AppArmor is enabled but libvirt does not confine QEMU with it "
                       "(security_driver in qemu.conf): the preload and a patched QEMU both work"),
             NULL);
        return;
    }
    if (!f->apparmor_qemu_rule) {
        add (out, "apparmor", name, UFFD_SHIM_DOCTOR_FAIL,
             g_strdup ("libvirt confines QEMU with AppArmor and its libvirt-qemu abstraction "
                       "does not give /dev/userfaultfd and the broker's socket: the kernel drops "
                       "the device the broker sends (both the preload and a patched QEMU fail)"),
             g_strdup ("install the drop-in: 'install -D -m 0644 " SHARE_DIR "/apparmor/"
                       APPARMOR_QEMU_ABSTRACTION " " APPARMOR_QEMU_DROPIN "' and, where "
                       APPARMOR_QEMU_ABSTRACTION_FILE " has no 'libvirt-qemu.d' include (libvirt "
                       "< 9.x), \"echo 'include if exists <abstractions/libvirt-qemu.d>' >> "
                       APPARMOR_QEMU_LOCAL "\" (the Debian package does both); domains started "
                       "or migrated in afterwards get it"));
        return;
    }
    if (f->apparmor_broker_loaded != 1) {
        add (out, "apparmor", name, UFFD_SHIM_DOCTOR_WARN,
             g_strdup_printf ("libvirt confines QEMU with AppArmor; the QEMU rules are in place, so "
                              "the preload (an 'ix' exec, no AT_SECURE) and a patched QEMU both "
                              "work; the broker profile '" APPARMOR_BROKER_PROFILE "' is %s",
                              f->apparmor_broker_loaded == 0 ? "not loaded" : "of unknown state"),
             g_strdup ("cp " SHARE_DIR "/apparmor/usr.sbin.uffd-shimd /etc/apparmor.d/ && "
                       "apparmor_parser -r /etc/apparmor.d/usr.sbin.uffd-shimd, then restart uffd-shimd"));
        return;
    }
    add (out, "apparmor", name, UFFD_SHIM_DOCTOR_PASS,
         g_strdup ("libvirt confines QEMU with AppArmor; the QEMU rules are in place (the preload "
                   "and a patched QEMU both work); broker profile loaded"),
         NULL);
}

static void
judge_selinux (const UffdShimDoctorFacts *f, GPtrArray *out)
{
    const char *name = "SELinux policy for uffd-shim";
    const char *load = "semodule -i " SELINUX_PP_DIR "/" SELINUX_MODULE ".pp && "
                       "restorecon -R /usr/sbin/uffd-shimd /run/uffd-shim";
    const char *preload_load = "semodule -i " SELINUX_PP_DIR "/" SELINUX_PRELOAD_MODULE ".pp";
    const char *native_hint = "or use a natively patched QEMU (qemu-patches/: build it with "
                              "qemu-patches/build.sh and list it in [qemu] emulators), which needs "
                              "no preload and no noatsecure";
    UffdShimDoctorLevel bad;
    guint native, stock;

    if (f->selinux_enforce < 0) {
        add (out, "selinux", name, UFFD_SHIM_DOCTOR_PASS, g_strdup ("SELinux is not enabled"), NULL);
        return;
    }
    if (!qemu_confined_by (f, UFFD_SHIM_DOCTOR_SECDRV_SELINUX, TRUE)) {
        add (out, "selinux", name, UFFD_SHIM_DOCTOR_PASS,
             g_strdup ("SELinux is enabled but libvirt does not confine QEMU with it "
                       "(security_driver in qemu.conf)"), NULL);
        return;
    }
    /* Enforcing: a missing rule breaks migrations; permissive: only AVCs. */
    bad = f->selinux_enforce == 1 ? UFFD_SHIM_DOCTOR_FAIL : UFFD_SHIM_DOCTOR_WARN;
    count_native (f, &native, &stock);
    if (f->selinux_module != 1) {
        add (out, "selinux", name, f->selinux_module == 0 ? bad : UFFD_SHIM_DOCTOR_WARN,
             g_strdup_printf ("SELinux is %s, libvirt confines QEMU (svirt) and module "
                              SELINUX_MODULE " is %s: QEMU cannot reach the broker or use the "
                              "device it sends, whichever way it asks",
                              f->selinux_enforce ? "enforcing" : "permissive",
                              f->selinux_module == 0 ? "not loaded" : "of unknown state (no semodule)"),
             stock > 0 ? g_strdup_printf ("%s; for the preload (stock QEMU) also '%s' "
                                          "(noatsecure: the price of the preload path), %s",
                                          load, preload_load, native_hint)
                       : g_strdup (load));
        return;
    }
    if (stock > 0 && f->selinux_preload_module != 1) {
        add (out, "selinux", name, f->selinux_preload_module == 0 ? bad : UFFD_SHIM_DOCTOR_WARN,
             g_strdup_printf ("SELinux is %s and libvirt confines QEMU: the svirt transition sets "
                              "AT_SECURE, so glibc silently ignores the preload in %u stock "
                              "QEMU%s (module " SELINUX_PRELOAD_MODULE " is %s); a patched QEMU "
                              "works with module " SELINUX_MODULE " alone",
                              f->selinux_enforce ? "enforcing" : "permissive", stock,
                              stock == 1 ? "" : "s",
                              f->selinux_preload_module == 0 ? "not loaded" : "of unknown state"),
             g_strdup_printf ("for the preload path: '%s' (allows noatsecure from virtqemud_t and "
                              "virtd_t to svirt_t and svirt_tcg_t: glibc's secure mode no longer "
                              "applies to confined QEMUs), %s", preload_load, native_hint));
        return;
    }
    add (out, "selinux", name, UFFD_SHIM_DOCTOR_PASS,
         stock > 0 ? g_strdup ("modules " SELINUX_MODULE " and " SELINUX_PRELOAD_MODULE
                               " are loaded: the preload and a patched QEMU both work")
                   : g_strdup ("module " SELINUX_MODULE " is loaded; every configured QEMU is "
                               "natively patched, so no preload (and no noatsecure) is needed"),
         NULL);
}

/*
 * QEMUs of all domains run as one user. If one can ptrace another (a
 * compromised guest's QEMU against a migrating one), it can make it ask the
 * broker, or take the device it received. The broker refuses a dumpable or
 * traced QEMU and the preload keeps QEMU non-dumpable while it asks, but a
 * QEMU attached before that can still make it pass the device on. What
 * stops one QEMU from attaching to another: sVirt (AppArmor or SELinux
 * confinement, each QEMU in its own profile or category), or Yama with
 * ptrace_scope >= 1 (a QEMU is no descendant of another).
 */
static void
judge_isolation (const UffdShimDoctorFacts *f, GPtrArray *out)
{
    const char *name = "QEMUs isolated from each other";
    const char *lsm = f->apparmor_enabled == 1 ? "AppArmor" : f->selinux_enforce == 1 ? "SELinux" : NULL;
    g_autofree char *yama = f->yama_ptrace_scope < 0
                                ? g_strdup ("no Yama in the kernel")
                                : g_strdup_printf ("Yama ptrace_scope %d", f->yama_ptrace_scope);

    if (lsm && !f->svirt_off) {
        add (out, "isolation", name, UFFD_SHIM_DOCTOR_PASS,
             g_strdup_printf ("%s confines each QEMU (libvirt's sVirt); %s", lsm, yama), NULL);
        return;
    }
    if (f->yama_ptrace_scope >= 1) {
        add (out, "isolation", name, UFFD_SHIM_DOCTOR_PASS,
             g_strdup_printf ("%s: a QEMU cannot ptrace another", yama), NULL);
        return;
    }
    add (out, "isolation", name, UFFD_SHIM_DOCTOR_FAIL,
         g_strdup_printf ("%s and %s: a QEMU can ptrace another QEMU of the same user and "
                          "take the userfaultfd device it is handed",
                          !lsm ? "no AppArmor or SELinux confines QEMU (no sVirt)"
                               : "sVirt is off in /etc/libvirt/qemu.conf",
                          yama),
         f->yama_ptrace_scope < 0
             ? g_strdup ("confine QEMU with AppArmor or SELinux (libvirt's security_driver), or "
                         "run a kernel with Yama (CONFIG_SECURITY_YAMA) and set "
                         "kernel.yama.ptrace_scope=1")
             : g_strdup ("sysctl -w kernel.yama.ptrace_scope=1 and keep it: echo "
                         "kernel.yama.ptrace_scope=1 > /etc/sysctl.d/60-uffd-shim-ptrace.conf; "
                         "or confine QEMU with AppArmor or SELinux (libvirt's security_driver)"));
}

GPtrArray *
uffd_shim_doctor_judge (const UffdShimDoctorFacts *f)
{
    GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) uffd_shim_doctor_result_free);

    judge_kernel (f, out);
    judge_knob (f, out);
    judge_sysctl_files (f, out);
    judge_libvirt (f, out);
    judge_broker (f, out);
    judge_sockets (f, out);
    judge_hook (f, out);
    judge_qemu (f, out);
    judge_apparmor (f, out);
    judge_selinux (f, out);
    judge_isolation (f, out);
    return out;
}

/* ---- gathering (I/O) ---------------------------------------------------- */

static char *
rooted (const UffdShimDoctorOptions *o, const char *path)
{
    if (!o->root || !*o->root || g_str_equal (o->root, "/"))
        return g_strdup (path);
    return g_build_filename (o->root, path, NULL);
}

static char *
read_rooted (const UffdShimDoctorOptions *o, const char *path)
{
    g_autofree char *p = rooted (o, path);
    char *text = NULL;

    if (!g_file_get_contents (p, &text, NULL, NULL))
        return NULL;
    return text;
}

static void
stat_rooted (const UffdShimDoctorOptions *o, const char *path, UffdShimDoctorStat *st)
{
    g_autofree char *p = rooted (o, path);
    struct stat s;

    memset (st, 0, sizeof *st);
    if (lstat (p, &s) != 0)
        return;
    st->exists = TRUE;
    st->is_socket = S_ISSOCK (s.st_mode);
    st->is_dir = S_ISDIR (s.st_mode);
    st->mode = s.st_mode & 07777;
    st->uid = s.st_uid;
}

/* Runs @argv (stdout captured, stderr discarded) for at most @timeout_ms.
 * Returns its stdout when it exited 0; *timed_out tells a kill. */
static char *
run_bounded (char **argv, int timeout_ms, gboolean *timed_out)
{
    g_autoptr (GString) buf = g_string_new (NULL);
    gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
    GPid pid;
    int out_fd = -1, status = 0;

    *timed_out = FALSE;
    if (!g_spawn_async_with_pipes (NULL, argv, NULL,
                                   G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDERR_TO_DEV_NULL |
                                       G_SPAWN_CHILD_INHERITS_STDIN,
                                   NULL, NULL, &pid, NULL, &out_fd, NULL, NULL))
        return NULL;
    for (;;) {
        struct pollfd pfd = { .fd = out_fd, .events = POLLIN };
        gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
        char chunk[4096];
        ssize_t n;

        if (left <= 0) {
            *timed_out = TRUE;
            break;
        }
        if (poll (&pfd, 1, (int) left) < 0 && errno != EINTR)
            break;
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        n = read (out_fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (buf->len < 65536)
            g_string_append_len (buf, chunk, n);
    }
    close (out_fd);
    if (*timed_out)
        kill (pid, SIGKILL); /* the child we started, by its pid */
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    g_spawn_close_pid (pid);
    if (*timed_out || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
        return NULL;
    return g_string_free (g_steal_pointer (&buf), FALSE);
}

static void
gather_kernel (UffdShimDoctorFacts *f, const UffdShimDoctorOptions *o)
{
    g_autofree char *rel = read_rooted (o, "/proc/sys/kernel/osrelease");
    g_autofree char *knob = read_rooted (o, "/proc/sys/vm/unprivileged_userfaultfd");
    g_autofree char *dev = rooted (o, "/dev/userfaultfd");
    struct stat st;
    guint64 v;

    f->kernel_release = rel ? g_strdup (g_strstrip (rel)) : NULL;
    if (stat (dev, &st) == 0) {
        f->dev_exists = TRUE;
        f->dev_is_chr = S_ISCHR (st.st_mode);
    }
    if (knob && g_ascii_string_to_unsigned (g_strstrip (knob), 10, 0, 255, &v, NULL))
        f->knob = (int) v;
}

static int
cmp_str (gconstpointer a, gconstpointer b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
gather_sysctl (UffdShimDoctorFacts *f, const UffdShimDoctorOptions *o)
{
    /* sysctl.d(5) precedence: the first directory wins for a file name. */
    static const char *const dirs[] = { "/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d",
                                        "/usr/lib/sysctl.d", "/lib/sysctl.d" };

    for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++) {
        g_autofree char *d = rooted (o, dirs[i]);
        g_autoptr (GDir) dir = g_dir_open (d, 0, NULL);
        g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
        const char *n;

        if (!dir)
            continue;
        while ((n = g_dir_read_name (dir)))
            if (g_str_has_suffix (n, ".conf"))
                g_ptr_array_add (names, g_strdup (n));
        g_ptr_array_sort (names, cmp_str);
        for (guint j = 0; j < names->len; j++) {
            UffdShimDoctorSysctlFile *s = g_new0 (UffdShimDoctorSysctlFile, 1);
            g_autofree char *text = NULL;

            s->path = g_build_filename (dirs[i], names->pdata[j], NULL);
            text = read_rooted (o, s->path);
            s->value = uffd_shim_doctor_sysctl_value (text);
            g_ptr_array_add (f->sysctl_files, s);
        }
    }
    {
        UffdShimDoctorSysctlFile *s = g_new0 (UffdShimDoctorSysctlFile, 1);
        g_autofree char *text = read_rooted (o, "/etc/sysctl.conf");

        s->path = g_strdup ("/etc/sysctl.conf");
        s->value = uffd_shim_doctor_sysctl_value (text);
        g_ptr_array_add (f->sysctl_files, s);
    }
}

static void
gather_libvirt (UffdShimDoctorFacts *f, const UffdShimDoctorOptions *o)
{
    static const char *const daemons[] = { "/usr/sbin/libvirtd", "/usr/sbin/virtqemud" };
    g_autofree char *conf = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS (daemons) && !f->libvirt_version; i++) {
        g_autofree char *bin = rooted (o, daemons[i]);
        g_autofree char *text = NULL;
        char *argv[] = { bin, (char *) "--version", NULL };
        gboolean to;

        if (!g_file_test (bin, G_FILE_TEST_IS_EXECUTABLE))
            continue;
        f->libvirt_found = TRUE;
        text = run_bounded (argv, o->timeout_ms, &to);
        f->libvirt_version = uffd_shim_doctor_parse_version (text);
    }
    f->qemu_conf = g_strdup ("/etc/libvirt/qemu.conf");
    conf = read_rooted (o, f->qemu_conf);
    f->acl = conf ? uffd_shim_doctor_parse_acl (conf) : UFFD_SHIM_DOCTOR_ACL_UNKNOWN;
    f->svirt_off = uffd_shim_doctor_parse_svirt_off (conf);
    f->security_driver = uffd_shim_doctor_parse_security_driver (conf);
}

static void
gather_broker (UffdShimDoctorFacts *f, const UffdShimConfig *cfg, const UffdShimDoctorOptions *o)
{
    g_autofree char *admin = rooted (o, cfg->admin_socket);
    struct uffd_shim_status_record r;

    f->client_socket = g_strdup (cfg->socket);
    f->admin_socket = g_strdup (cfg->admin_socket);
    f->socket_dir = g_path_get_dirname (cfg->socket);
    f->broker_status = uffd_shim_admin_status (admin, &r, o->timeout_ms);
    if (f->broker_status == 0)
        f->broker_pid = r.pid;
    stat_rooted (o, cfg->socket, &f->client_st);
    stat_rooted (o, cfg->admin_socket, &f->admin_st);
    stat_rooted (o, f->socket_dir, &f->socket_dir_st);
}

/* Does the regular file @path hold @needle in its first @max bytes? */
static gboolean
file_has (const char *path, const char *needle, goffset max)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    gboolean found;

    if (fd < 0)
        return FALSE;
    found = fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && uffd_shim_fd_find (fd, needle, max) > 0;
    close (fd);
    return found;
}

/* Start of @pid in unix seconds (0 unknown), and its comm in *name. */
static gint64
process_start (const UffdShimDoctorOptions *o, gint64 pid, char **name)
{
    g_autofree char *sp = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/stat", pid);
    g_autofree char *cp = g_strdup_printf ("/proc/%" G_GINT64_FORMAT "/comm", pid);
    g_autofree char *stat = read_rooted (o, sp);
    g_autofree char *comm = read_rooted (o, cp);
    g_autofree char *pstat = read_rooted (o, "/proc/stat");
    const char *bt;
    gint64 ticks, hz = sysconf (_SC_CLK_TCK);
    guint64 btime;

    *name = comm ? g_strdup (g_strstrip (comm)) : NULL;
    ticks = uffd_shim_doctor_parse_starttime (stat);
    if (ticks < 0 || !pstat || hz <= 0 || !(bt = strstr (pstat, "\nbtime ")))
        return 0;
    btime = g_ascii_strtoull (bt + strlen ("\nbtime "), NULL, 10);
    return btime ? (gint64) btime + ticks / hz : 0;
}

static void
gather_hook (UffdShimDoctorFacts *f, const UffdShimDoctorOptions *o)
{
    const char *hooks_dir = o->hooks_dir ? o->hooks_dir : "/etc/libvirt/hooks";
    g_autofree char *qemu_d = g_build_filename (hooks_dir, "qemu.d", NULL);
    g_autofree char *qemu_d_r = rooted (o, qemu_d);
    g_autofree char *path_r = NULL;
    g_autoptr (GDir) dir = NULL;
    const char *given[] = { o->libvirtd_pidfile, NULL };
    const char *const *pidfiles = o->libvirtd_pidfile ? given : uffd_shim_libvirt_pidfiles;
    struct stat st;

    f->hook_path = g_build_filename (qemu_d, UFFD_SHIM_HOOK_INSTALL_NAME, NULL);
    path_r = rooted (o, f->hook_path);
    if (lstat (path_r, &st) == 0) {
        f->hook_exists = TRUE;
        f->hook_regular = S_ISREG (st.st_mode);
        f->hook_executable = f->hook_regular && (st.st_mode & 0111) == 0111;
        f->hook_mtime = st.st_mtime;
        f->hook_ours = f->hook_regular && file_has (path_r, UFFD_SHIM_HOOK_MARKER, UFFD_SHIM_HOOK_BINARY_MAX);
    }
    /* A copy: the same bytes as the binary it was installed from? */
    f->hook_binary = g_strdup (UFFD_SHIM_HOOK_PATH);
    if (f->hook_ours) {
        g_autofree char *bin_r = rooted (o, UFFD_SHIM_HOOK_PATH);
        g_autofree char *a = NULL, *b = NULL;
        gsize la = 0, lb = 0;

        if (g_file_get_contents (path_r, &a, &la, NULL) && g_file_get_contents (bin_r, &b, &lb, NULL))
            f->hook_stale = la != lb || memcmp (a, b, la) != 0;
    }
    /* Other qemu hooks: libvirt runs qemu.d/ on each call once it saw any. */
    {
        g_autofree char *main_hook = g_build_filename (hooks_dir, "qemu", NULL);
        g_autofree char *main_r = rooted (o, main_hook);
        const char *n;

        if (stat (main_r, &st) == 0 && S_ISREG (st.st_mode) && (st.st_mode & 0111))
            f->other_hook_mtime = st.st_mtime;
        dir = g_dir_open (qemu_d_r, 0, NULL);
        while (dir && (n = g_dir_read_name (dir))) {
            g_autofree char *p = g_build_filename (qemu_d_r, n, NULL);

            if (g_str_equal (n, UFFD_SHIM_HOOK_INSTALL_NAME) || stat (p, &st) != 0 ||
                !S_ISREG (st.st_mode) || !(st.st_mode & 0111))
                continue;
            if (f->other_hook_mtime == 0 || st.st_mtime < f->other_hook_mtime)
                f->other_hook_mtime = st.st_mtime;
        }
    }
    for (gsize i = 0; pidfiles[i]; i++) {
        g_autofree char *text = read_rooted (o, pidfiles[i]);
        g_autofree char *name = NULL;
        pid_t pid;
        gint64 start;

        if (!text || !uffd_shim_parse_pidfile (text, strlen (text), &pid))
            continue;
        start = process_start (o, (gint64) pid, &name);
        /* A stale pid file names no process, or another program. */
        if (!name || (!g_str_equal (name, "libvirtd") && !g_str_equal (name, "virtqemud")))
            continue;
        f->libvirtd_pid = (gint64) pid;
        f->libvirtd_start = start;
        f->libvirtd_name = g_steal_pointer (&name);
        break;
    }
}

static void
gather_qemu (UffdShimDoctorFacts *f, const UffdShimConfig *cfg, const UffdShimDoctorOptions *o)
{
    g_autoptr (GPtrArray) paths = g_ptr_array_new ();
    const char *extra = g_getenv ("UFFD_SHIM_DOCTOR_QEMU");

    for (char **e = cfg->emulators; e && *e; e++)
        g_ptr_array_add (paths, *e);
    if (extra && *extra)
        g_ptr_array_add (paths, (char *) extra);
    for (guint i = 0; i < paths->len; i++) {
        const char *path = paths->pdata[i];
        g_autofree char *bin = rooted (o, path);
        g_autofree char *text = NULL;
        char *argv[] = { bin, (char *) "--version", NULL };
        UffdShimDoctorEmulator *em;
        gboolean dup = FALSE;

        for (guint j = 0; j < f->emulators->len; j++)
            dup |= g_str_equal (((UffdShimDoctorEmulator *) f->emulators->pdata[j])->path, path);
        if (dup || !g_file_test (bin, G_FILE_TEST_IS_REGULAR) ||
            !g_file_test (bin, G_FILE_TEST_IS_EXECUTABLE))
            continue;
        em = g_new0 (UffdShimDoctorEmulator, 1);
        em->path = g_strdup (path);
        text = run_bounded (argv, o->timeout_ms, &em->timed_out);
        em->version = uffd_shim_doctor_parse_version (text);
        em->native = (cfg->native_emulators &&
                      g_strv_contains ((const char *const *) cfg->native_emulators, path)) ||
                     uffd_shim_hook_emulator_has_marker (bin);
        g_ptr_array_add (f->emulators, em);
    }
}

static void
gather_lsm (UffdShimDoctorFacts *f, const UffdShimDoctorOptions *o)
{
    g_autofree char *aa = read_rooted (o, "/sys/module/apparmor/parameters/enabled");
    g_autofree char *se = read_rooted (o, "/sys/fs/selinux/enforce");
    g_autofree char *yama = read_rooted (o, "/proc/sys/kernel/yama/ptrace_scope");

    if (yama && g_ascii_isdigit (yama[0]))
        f->yama_ptrace_scope = (int) g_ascii_strtoll (yama, NULL, 10);
    if (aa)
        f->apparmor_enabled = g_str_has_prefix (aa, "Y") ? 1 : 0;
    if (f->apparmor_enabled == 1) {
        g_autofree char *profiles = read_rooted (o, "/sys/kernel/security/apparmor/profiles");
        g_autofree char *local = read_rooted (o, APPARMOR_QEMU_LOCAL);

        if (profiles) {
            g_auto (GStrv) lines = g_strsplit (profiles, "\n", -1);

            f->apparmor_broker_loaded = 0;
            /* Lines are "NAME (MODE)". */
            for (char **l = lines; *l; l++)
                if (g_str_has_prefix (*l, APPARMOR_BROKER_PROFILE " (") ||
                    g_str_has_prefix (*l, "/usr/sbin/uffd-shimd ("))
                    f->apparmor_broker_loaded = 1;
        }
        g_autofree char *main_abs = read_rooted (o, APPARMOR_QEMU_ABSTRACTION_FILE);
        g_autofree char *dropin = read_rooted (o, APPARMOR_QEMU_DROPIN);
        gboolean dir_included = (main_abs && strstr (main_abs, "abstractions/libvirt-qemu.d")) ||
                                (local && strstr (local, "abstractions/libvirt-qemu.d"));

        f->apparmor_qemu_rule = (dropin && dir_included && strstr (dropin, "/dev/userfaultfd")) ||
                                (local && (strstr (local, APPARMOR_QEMU_ABSTRACTION) ||
                                           strstr (local, "/dev/userfaultfd")));
    }
    if (se) {
        g_autofree char *semodule = rooted (o, "/usr/sbin/semodule");
        char *argv[] = { semodule, (char *) "-l", NULL };

        f->selinux_enforce = g_str_has_prefix (se, "1") ? 1 : 0;
        if (g_file_test (semodule, G_FILE_TEST_IS_EXECUTABLE)) {
            gboolean to;
            g_autofree char *list = run_bounded (argv, o->timeout_ms, &to);

            if (list) {
                g_auto (GStrv) lines = g_strsplit (list, "\n", -1);

                f->selinux_module = 0;
                f->selinux_preload_module = 0;
                for (char **l = lines; *l; l++) {
                    g_auto (GStrv) w = g_strsplit_set (*l, " \t", 2);

                    if (w[0] && g_str_equal (w[0], SELINUX_MODULE))
                        f->selinux_module = 1;
                    if (w[0] && g_str_equal (w[0], SELINUX_PRELOAD_MODULE))
                        f->selinux_preload_module = 1;
                }
            }
        }
    }
}

void
uffd_shim_doctor_gather (UffdShimDoctorFacts *f, const UffdShimConfig *cfg,
                         const UffdShimDoctorOptions *opts)
{
    UffdShimDoctorOptions o = *opts;

    if (o.timeout_ms <= 0)
        o.timeout_ms = 5000;
    gather_kernel (f, &o);
    gather_sysctl (f, &o);
    gather_libvirt (f, &o);
    gather_broker (f, cfg, &o);
    gather_hook (f, &o);
    gather_qemu (f, cfg, &o);
    gather_lsm (f, &o);
}

/* ---- output ------------------------------------------------------------- */

static void
print_json (GPtrArray *results, guint counts[3])
{
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    g_autoptr (JsonNode) root = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "checks");
    json_builder_begin_array (b);
    for (guint i = 0; i < results->len; i++) {
        UffdShimDoctorResult *r = results->pdata[i];
        g_autofree char *lvl = g_ascii_strdown (uffd_shim_doctor_level_str (r->level), -1);

        json_builder_begin_object (b);
        json_builder_set_member_name (b, "id");
        json_builder_add_string_value (b, r->id);
        json_builder_set_member_name (b, "name");
        json_builder_add_string_value (b, r->name);
        json_builder_set_member_name (b, "result");
        json_builder_add_string_value (b, lvl);
        json_builder_set_member_name (b, "detail");
        json_builder_add_string_value (b, r->detail);
        json_builder_set_member_name (b, "fix");
        if (r->fix)
            json_builder_add_string_value (b, r->fix);
        else
            json_builder_add_null_value (b);
        json_builder_end_object (b);
    }
    json_builder_end_array (b);
    json_builder_set_member_name (b, "pass");
    json_builder_add_int_value (b, counts[UFFD_SHIM_DOCTOR_PASS]);
    json_builder_set_member_name (b, "warn");
    json_builder_add_int_value (b, counts[UFFD_SHIM_DOCTOR_WARN]);
    json_builder_set_member_name (b, "fail");
    json_builder_add_int_value (b, counts[UFFD_SHIM_DOCTOR_FAIL]);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    json_generator_set_pretty (gen, TRUE);
    json_generator_set_root (gen, root);
    text = json_generator_to_data (gen, NULL);
    printf ("%s\n", text);
}

int
uffd_shim_doctor_run (const UffdShimConfig *cfg, const UffdShimDoctorOptions *opts, gboolean json)
{
    g_autoptr (UffdShimDoctorFacts) f = uffd_shim_doctor_facts_new ();
    g_autoptr (GPtrArray) results = NULL;
    guint counts[3] = { 0, 0, 0 };
    int width = 0;

    uffd_shim_doctor_gather (f, cfg, opts);
    results = uffd_shim_doctor_judge (f);
    for (guint i = 0; i < results->len; i++) {
        UffdShimDoctorResult *r = results->pdata[i];

        counts[r->level]++;
        width = MAX (width, (int) g_utf8_strlen (r->name, -1));
    }
    if (json) {
        print_json (results, counts);
    } else {
        for (guint i = 0; i < results->len; i++) {
            UffdShimDoctorResult *r = results->pdata[i];

            printf ("  %-*s : %s\n", width, r->name, uffd_shim_doctor_level_str (r->level));
            if (r->level == UFFD_SHIM_DOCTOR_PASS)
                continue;
            printf ("      %s\n      fix: %s\n", r->detail, r->fix ? r->fix : "-");
        }
        printf ("%u PASS, %u WARN, %u FAIL\n", counts[UFFD_SHIM_DOCTOR_PASS],
                counts[UFFD_SHIM_DOCTOR_WARN], counts[UFFD_SHIM_DOCTOR_FAIL]);
    }
    fflush (stdout);
    return counts[UFFD_SHIM_DOCTOR_FAIL] > 0 ? 1 : 0;
}
