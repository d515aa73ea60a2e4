/* SPDX-License-Identifier: GPL-2.0-or-later */
/* uffd-shimctl doctor: host readiness checks (facts gathered by I/O, verdicts by pure functions). */
#ifndef UFFD_SHIM_DOCTOR_H
#define UFFD_SHIM_DOCTOR_H

#include <glib.h>
#include <sys/types.h>

#include "config.h"

typedef enum {
    UFFD_SHIM_DOCTOR_PASS = 0,
    UFFD_SHIM_DOCTOR_WARN,
    UFFD_SHIM_DOCTOR_FAIL,
} UffdShimDoctorLevel;

/* One line of the report. */
typedef struct {
    char *id;     /* stable identifier ("kernel", "knob", ...) for --json and tests */
    char *name;   /* what is checked, as printed */
    UffdShimDoctorLevel level;
    char *detail; /* what was found */
    char *fix;    /* what to do (NULL for PASS) */
} UffdShimDoctorResult;

/* A *.conf file of a sysctl directory (or /etc/sysctl.conf). */
typedef struct {
    char *path;  /* as seen by the host (without the --root prefix) */
    char *value; /* the last value it gives vm.unprivileged_userfaultfd, or NULL */
} UffdShimDoctorSysctlFile;

typedef enum {
    UFFD_SHIM_DOCTOR_ACL_UNKNOWN = 0, /* qemu.conf missing or unreadable */
    UFFD_SHIM_DOCTOR_ACL_UNSET,       /* no cgroup_device_acl: libvirt's default */
    UFFD_SHIM_DOCTOR_ACL_WITH,        /* set, lists /dev/userfaultfd */
    UFFD_SHIM_DOCTOR_ACL_WITHOUT,     /* set, does not list it */
} UffdShimDoctorAcl;

typedef struct {
    gboolean exists;
    gboolean is_socket;
    gboolean is_dir;
    guint mode; /* permission bits (07777) */
    uid_t uid;
} UffdShimDoctorStat;

typedef struct {
    char *path;        /* as seen by the host */
    char *version;     /* "7.2.19", or NULL when `--version` failed */
    gboolean timed_out;
    int native;        /* 1 native broker support, 0 not, -1 not checked */
} UffdShimDoctorEmulator;

typedef struct {
    /* kernel */
    char *kernel_release;      /* NULL: unreadable */
    gboolean dev_exists;
    gboolean dev_is_chr;
    /* vm.unprivileged_userfaultfd */
    int knob;                  /* -1: unreadable */
    GPtrArray *sysctl_files;   /* UffdShimDoctorSysctlFile, in precedence order */
    /* libvirt */
    gboolean libvirt_found;    /* a libvirtd/virtqemud binary exists */
    char *libvirt_version;     /* NULL: unknown */
    char *qemu_conf;           /* path as seen by the host */
    UffdShimDoctorAcl acl;
    /* broker */
    char *client_socket;
    char *admin_socket;
    int broker_status;         /* 0 running; < 0 -errno; > 0 a broker status */
    gint64 broker_pid;
    UffdShimDoctorStat client_st;
    UffdShimDoctorStat admin_st;
    UffdShimDoctorStat socket_dir_st;
    char *socket_dir;
    /* hook */
    char *hook_path;
    gboolean hook_exists;
    gboolean hook_regular;
    gboolean hook_executable;
    gboolean hook_ours;        /* carries UFFD_SHIM_HOOK_MARKER */
    gboolean hook_stale;       /* differs from the installed hook binary (another version) */
    char *hook_binary;         /* that binary (UFFD_SHIM_HOOK_PATH) */
    gint64 hook_mtime;         /* unix seconds */
    gint64 other_hook_mtime;   /* oldest other qemu hook (hooks/qemu, qemu.d/...); 0 none */
    gint64 libvirtd_pid;       /* 0: not running (no pid file, stale pid) */
    char *libvirtd_name;       /* "libvirtd" or "virtqemud" */
    gint64 libvirtd_start;     /* unix seconds; 0 unknown */
    /* QEMU */
    GPtrArray *emulators;      /* UffdShimDoctorEmulator: the configured ones that exist */
    /* LSMs */
    int apparmor_enabled;      /* -1 not in the kernel, 0 disabled, 1 enabled */
    int apparmor_broker_loaded;/* -1 unknown, 0 no, 1 yes */
    gboolean apparmor_qemu_rule; /* the libvirt-qemu abstraction gives /dev/userfaultfd
                                  * (our drop-in in an included libvirt-qemu.d, or a
                                  * rule in its local file) */
    int selinux_enforce;       /* -1 SELinux off, 0 permissive, 1 enforcing */
    /* QEMUs isolated from each other */
    int yama_ptrace_scope;     /* -1: no Yama in the kernel */
    gboolean svirt_off;        /* qemu.conf: security_driver "none" or security_default_confined 0 */
    int selinux_module;        /* uffd_shim: -1 unknown (no semodule), 0 not loaded, 1 loaded */
    int selinux_preload_module;/* uffd_shim_preload (noatsecure), same values */
    guint security_driver;     /* qemu.conf security_driver: UFFD_SHIM_DOCTOR_SECDRV_* bits */
} UffdShimDoctorFacts;

/* qemu.conf's security_driver: which LSM drivers libvirt uses for QEMU. */
#define UFFD_SHIM_DOCTOR_SECDRV_UNSET    0u       /* not set: the host's LSM (libvirt's default) */
#define UFFD_SHIM_DOCTOR_SECDRV_NONE     (1u << 0) /* "none": QEMU is not confined */
#define UFFD_SHIM_DOCTOR_SECDRV_SELINUX  (1u << 1)
#define UFFD_SHIM_DOCTOR_SECDRV_APPARMOR (1u << 2)
#define UFFD_SHIM_DOCTOR_SECDRV_OTHER    (1u << 3) /* "dac" or anything else */

/* Where and how facts are gathered. Every path is prefixed with @root. */
typedef struct {
    const char *root;             /* NULL or "/" = the host */
    const char *hooks_dir;        /* default /etc/libvirt/hooks */
    const char *libvirtd_pidfile; /* default: uffd_shim_libvirt_pidfiles (install.h) */
    int timeout_ms;               /* bound on each command and the status call */
} UffdShimDoctorOptions;

UffdShimDoctorFacts *uffd_shim_doctor_facts_new (void);
void uffd_shim_doctor_facts_free (UffdShimDoctorFacts *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UffdShimDoctorFacts, uffd_shim_doctor_facts_free)

void uffd_shim_doctor_result_free (UffdShimDoctorResult *r);

/* I/O: fills @f from the host (or the tree under opts->root). */
void uffd_shim_doctor_gather (UffdShimDoctorFacts *f, const UffdShimConfig *cfg,
                              const UffdShimDoctorOptions *opts);

/* Pure: the report for @f, a GPtrArray of UffdShimDoctorResult. */
GPtrArray *uffd_shim_doctor_judge (const UffdShimDoctorFacts *f);

/* Pure helpers (exposed for the unit tests). */
/* "6.1.0-13-amd64" >= 6.1? FALSE for unparsable text. */
gboolean uffd_shim_doctor_kernel_ok (const char *release);
/* Compares dotted versions ("10.1.0" vs "9.0"); missing parts are 0. */
int uffd_shim_doctor_version_cmp (const char *a, const char *b);
/* Last value a sysctl.conf(5) text gives vm.unprivileged_userfaultfd, or NULL. */
char *uffd_shim_doctor_sysctl_value (const char *text);
/* cgroup_device_acl in a qemu.conf text (never ACL_UNKNOWN). */
UffdShimDoctorAcl uffd_shim_doctor_parse_acl (const char *text);
/* Does a qemu.conf text turn sVirt off (security_driver = "none", alone or
 * in a list, or security_default_confined = 0)? */
gboolean uffd_shim_doctor_parse_svirt_off (const char *text);
/* security_driver in a qemu.conf text: UFFD_SHIM_DOCTOR_SECDRV_* bits (0: unset). */
guint uffd_shim_doctor_parse_security_driver (const char *text);
/* The version in "libvirtd (libvirt) 9.0.0" or "QEMU emulator version 7.2.19 (...)". */
char *uffd_shim_doctor_parse_version (const char *text);
/* Start time (field 22, clock ticks since boot) from the text of /proc/PID/stat; -1 if bad. */
gint64 uffd_shim_doctor_parse_starttime (const char *stat_text);

const char *uffd_shim_doctor_level_str (UffdShimDoctorLevel level);

/* The whole command: gathers, judges, prints (text or JSON). Returns the
 * exit status: 1 when a check FAILs, else 0. */
int uffd_shim_doctor_run (const UffdShimConfig *cfg, const UffdShimDoctorOptions *opts,
                          gboolean json);

#endif /* UFFD_SHIM_DOCTOR_H */
