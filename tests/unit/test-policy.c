/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests: the hand-out decision, one denial reason per failed condition. */
#include <glib.h>
#include <string.h>

#include "policy.h"

static const guint8 U1[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

typedef struct {
    UffdShimPeer peer;
    UffdShimFileId emu;
    UffdShimGrant grant;
    UffdShimLibvirtRecord status;
    UffdShimPolicyInput in;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
    memset (f, 0, sizeof *f);
    f->peer.pid = 4000;
    f->peer.uid = 64055;
    for (int i = 0; i < 4; i++)
        f->peer.uids[i] = 64055;
    f->peer.starttime = 99;
    f->peer.exe_known = TRUE;
    f->peer.exe_dev = 8;
    f->peer.exe_ino = 1234;
    f->emu.dev = 8;
    f->emu.ino = 1234;
    f->grant.name = (char *) "vm1";
    memcpy (f->grant.uuid, U1, 16);
    f->grant.expires = 1000;
    f->grant.uses_left = f->grant.uses_max = 3;
    f->status.status_pid = 4000;
    f->status.incoming = TRUE;
    memcpy (f->status.uuid, U1, 16);
    strcpy (f->status.name, "vm1");
    f->in.qemu_uid = 64055;
    f->in.peer = &f->peer;
    f->in.emulators = &f->emu;
    f->in.n_emulators = 1;
    f->in.grant = &f->grant;
    f->in.status = &f->status;
    f->in.domain_allowed = TRUE;
    f->in.now = 500;
}

static void
teardown (Fixture *f, gconstpointer data)
{
}

#define DECIDE(f) uffd_shim_policy_decide (&(f)->in)

static void
test_ok (Fixture *f, gconstpointer data)
{
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_OK);
    f->grant.pid = 4000;
    f->grant.starttime = 99;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_OK);
}

/* A granted QEMU that other processes of its uid could ptrace, or that is
 * traced, is refused; last, so that an ungranted one still reads
 * not-granted. */
static void
test_exposed (Fixture *f, gconstpointer data)
{
    f->peer.dumpable = TRUE;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_DUMPABLE);
    f->peer.tracer = 77;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_TRACED);
    f->peer.dumpable = FALSE;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_TRACED);
    f->in.grant = NULL;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_GRANTED);
    f->in.grant = &f->grant;
    f->peer.uid = 1000;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_WRONG_UID);
}

static void
test_uid (Fixture *f, gconstpointer data)
{
    f->peer.uid = 1000;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_WRONG_UID);
    setup (f, NULL);
    f->peer.uids[2] = 0; /* saved uid root: a setuid program */
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_WRONG_UID);
    setup (f, NULL);
    f->in.qemu_uid = (uid_t) -1;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_WRONG_UID);
}

static void
test_exe (Fixture *f, gconstpointer data)
{
    f->peer.exe_ino = 1235;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_WRONG_EXE);
    setup (f, NULL);
    f->peer.exe_known = FALSE;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_WRONG_EXE);
    setup (f, NULL);
    f->in.n_emulators = 0;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_WRONG_EXE);
}

static void
test_grant_states (Fixture *f, gconstpointer data)
{
    f->in.grant = NULL;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_GRANTED);
    setup (f, NULL);
    f->grant.state = UFFD_SHIM_GRANT_EXPIRED;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_EXPIRED);
    f->grant.state = UFFD_SHIM_GRANT_EXHAUSTED;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_EXHAUSTED);
    f->grant.state = UFFD_SHIM_GRANT_REVOKED;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_REVOKED);
    f->grant.state = UFFD_SHIM_GRANT_EXITED;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_GRANTED);
    setup (f, NULL);
    f->in.now = 1000; /* expiry not yet swept */
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_EXPIRED);
    setup (f, NULL);
    f->grant.uses_left = 0;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_EXHAUSTED);
    f->grant.state = UFFD_SHIM_GRANT_DONE;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_MIGRATING);
    setup (f, NULL);
    f->in.domain_allowed = FALSE;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_DOMAIN_DENIED);
}

static void
test_libvirt_record (Fixture *f, gconstpointer data)
{
    f->in.status = NULL;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_GRANTED);
    setup (f, NULL);
    f->status.status_pid = 4001;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_GRANTED);
    setup (f, NULL);
    strcpy (f->status.name, "vm2");
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_GRANTED);
    setup (f, NULL);
    f->status.uuid[15] ^= 1;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_UUID_MISMATCH);
    /* Only the QEMU of a domain receiving an incoming migration. */
    setup (f, NULL);
    f->status.incoming = FALSE;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_MIGRATING);
    f->grant.pid = 4000;
    f->grant.starttime = 99;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_MIGRATING);
}

/* The last use is kept for the LAST request: a grant cannot run out
 * before the switch-time request. */
static void
test_last_use_reserved (Fixture *f, gconstpointer data)
{
    f->grant.uses_left = 1;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_EXHAUSTED);
    f->in.last = TRUE;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_OK);
    f->grant.uses_left = 2;
    f->in.last = FALSE;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_OK);
}

/*
 * Never fail at the switch: for the QEMU the grant is bound to, nothing that
 * can change during a long precopy is held against it: not the clock, not
 * the allow/deny lists, not the emulator binary replaced on disk. Everyone
 * else still meets every check.
 */
static void
test_bound_switch (Fixture *f, gconstpointer data)
{
    f->grant.pid = 4000;
    f->grant.starttime = 99;
    f->grant.exe_dev = 8;
    f->grant.exe_ino = 1234;
    f->in.now = f->grant.expires + 3600 * 24;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_OK);
    f->in.domain_allowed = FALSE;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_OK);
    /* The package replaced the emulator: the configured path is a new inode,
     * the running QEMU still runs the one it was bound with. */
    f->emu.ino = 5678;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_OK);
    /* But an exec into anything else is a different executable. */
    f->peer.exe_ino = 5678;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_WRONG_EXE);
    f->peer.exe_ino = 1234;
    /* uids, the status XML and the migration are still checked. */
    f->peer.uids[1] = 0;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_WRONG_UID);
    f->peer.uids[1] = 64055;
    f->status.incoming = FALSE;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_MIGRATING);
    f->status.incoming = TRUE;
    f->status.status_pid = 4001;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_GRANTED);
    f->status.status_pid = 4000;
    /* A state file of an earlier version recorded no executable: the
     * configured list decides. */
    f->grant.exe_dev = f->grant.exe_ino = 0;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_WRONG_EXE);
    f->emu.ino = 1234;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_OK);
    /* Another process (a recycled pid, another QEMU) gets none of this. */
    f->peer.starttime = 100;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_GRANTED);
    f->grant.pid = 0;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_EXPIRED);
    f->in.now = 500;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_DOMAIN_DENIED);
}

static void
test_bound_verdict (Fixture *f, gconstpointer data)
{
    f->grant.pid = 4000;
    f->grant.starttime = 99;
    g_assert_cmpint (uffd_shim_policy_bound_verdict (&f->grant, TRUE, &f->status), ==,
                     UFFD_SHIM_BOUND_KEEP);
    /* Unknown liveness or an unreadable status XML never end a grant. */
    g_assert_cmpint (uffd_shim_policy_bound_verdict (&f->grant, -1, NULL), ==, UFFD_SHIM_BOUND_KEEP);
    g_assert_cmpint (uffd_shim_policy_bound_verdict (&f->grant, TRUE, NULL), ==,
                     UFFD_SHIM_BOUND_KEEP);
    g_assert_cmpint (uffd_shim_policy_bound_verdict (&f->grant, FALSE, &f->status), ==,
                     UFFD_SHIM_BOUND_EXITED);
    f->status.incoming = FALSE;
    g_assert_cmpint (uffd_shim_policy_bound_verdict (&f->grant, TRUE, &f->status), ==,
                     UFFD_SHIM_BOUND_DONE);
    f->status.incoming = TRUE;
    f->status.status_pid = 4001;
    g_assert_cmpint (uffd_shim_policy_bound_verdict (&f->grant, TRUE, &f->status), ==,
                     UFFD_SHIM_BOUND_DONE);
}

static void
test_bound (Fixture *f, gconstpointer data)
{
    f->grant.pid = 4000;
    f->grant.starttime = 98; /* same pid, another process: recycled */
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_GRANTED);
    f->grant.pid = 4002;
    f->grant.starttime = 99;
    g_assert_cmpint (DECIDE (f), ==, UFFD_SHIM_E_NOT_GRANTED);
}

int
main (int argc, char **argv)
{
    g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, setup, fn, teardown)
    ADD ("/policy/ok", test_ok);
    ADD ("/policy/exposed", test_exposed);
    ADD ("/policy/uid", test_uid);
    ADD ("/policy/exe", test_exe);
    ADD ("/policy/grant-states", test_grant_states);
    ADD ("/policy/libvirt-record", test_libvirt_record);
    ADD ("/policy/bound-process", test_bound);
    ADD ("/policy/last-use-reserved", test_last_use_reserved);
    ADD ("/policy/bound-switch", test_bound_switch);
    ADD ("/policy/bound-verdict", test_bound_verdict);
    return g_test_run ();
}
