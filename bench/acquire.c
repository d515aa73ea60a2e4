/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Benchmark: latency and throughput of getting a userfaultfd by syscall, by the device, and through the broker. */
/*
 * usage (root):
 *   bench-acquire run --mode syscall|device|library [--concurrency 1,16,256]
 *                 [--qemu-uid UID] [--socket S --admin-socket A --run-dir DIR --broker-pid P]
 *
 * One acquisition is what a QEMU does to get one uffd, timed from the
 * client's side: create it, UFFDIO_API handshake, close. The modes:
 *   syscall  userfaultfd(O_CLOEXEC | O_NONBLOCK), full (kernel-fault) mode,
 *            as the QEMU uid: needs vm.unprivileged_userfaultfd = 1, which
 *            the caller (bench/acquire.sh) sets for this mode only.
 *   device   open("/dev/userfaultfd") + USERFAULTFD_IOC_NEW, as root (the
 *            device is root's 0600 node).
 *   library  uffd_shim_userfaultfd() as the QEMU uid with the knob at 0: the
 *            syscall fails (EPERM), the device cannot be opened (EACCES), so
 *            the library asks the broker, which decides and hands out the
 *            device. Each client is a separate process, started the way
 *            libvirt starts QEMU (locked pid file, status XML) for its own
 *            granted domain bench-N, so the broker sees N distinct peers and
 *            N active grants, as a destination host receiving N domains.
 * Clients are processes (this program re-executed, as the QEMU uid for
 * syscall and library), released together at each round by a pipe barrier
 * (one pipe per round, below); each runs a closed loop of acquisitions. A
 * warm-up round precedes the
 * measured rounds; in library mode each client's grant is made once per
 * level with 1000 uses, enough for all its rounds (a grant bound to a live
 * QEMU cannot be replaced, and its last use is kept for a LAST request). Throughput is acquisitions over the wall time of
 * the measured rounds. In library mode the broker's STATUS counters must
 * show exactly one hand-out per acquisition, and the broker's CPU time per
 * hand-out is reported.
 * Output: one JSON object per concurrency level on stdout (JSON lines).
 * BENCH_ACQUIRE_SCALE (default 1) scales the number of acquisitions.
 *
 * The barrier. Round r starts when the driver writes one byte per client
 * into round r's own pipe, and each client reads exactly one byte from it.
 * With one pipe for all rounds (as this program first had it), a client
 * done with round r early read the next byte, which belonged to a client
 * not yet scheduled in round r, and ran round r + 1 before the driver had
 * even collected round r; the driver then counted that client's DONE as
 * the other's. At 256 clients on 2 cores a few clients did so in most runs:
 * their measured acquisitions fell before the driver read the broker's
 * counter for the round and the robbed clients' warm-up ones after it
 * (25,600 - 100 k + 10 k hand-outs counted), and the figures of every mode
 * mixed rounds. Each client also records the rounds it began and ended,
 * and the driver checks, before it releases a round, that every client has
 * done exactly the rounds before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acquire-lib.h"
#include "admin-client.h"
#include "uffd-shim.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO (0xAA, 0x00)
#endif
#define UFFD_FLAGS (O_CLOEXEC | O_NONBLOCK)
#define GRANT_USES 1000
#define MAX_CLIENTS 1024

#define MAX_ROUNDS 3
/* In a client: READY and DONE (one byte per round) go to the driver; round
 * r is released by one byte in pipe FD_GO + r. */
enum { FD_READY = 3, FD_DONE, FD_SHM, FD_GO };

/* Per-client area of the shared memory: a header, then the samples (ns). */
typedef struct {
    uint32_t errors;
    int32_t first_errno;
    int32_t first_reason;
    uint32_t started;  /* rounds begun (warm-up included) */
    uint32_t finished; /* rounds ended */
    uint32_t pad;
} ClientHdr;

typedef struct {
    unsigned iters, rounds, warm;
} Plan;

static size_t
client_area (const Plan *p)
{
    return sizeof (ClientHdr) + (size_t) p->iters * p->rounds * sizeof (uint64_t);
}

static Plan
plan_for (unsigned conc)
{
    const char *s = getenv ("BENCH_ACQUIRE_SCALE");
    double scale = s ? atof (s) : 1.0;
    Plan p;

    if (conc <= 1)
        p = (Plan) { 300, 3, 50 };
    else if (conc <= 16)
        p = (Plan) { 450, 2, 50 };
    else
        p = (Plan) { 100, 1, 10 };
    if (scale > 0 && scale != 1.0) {
        p.iters = (unsigned) fmax (10, p.iters * scale);
        if (scale < 1)
            p.rounds = 1;
    }
    /* One grant per client for the whole level: warm-up and rounds within
     * its uses, the last one left for a LAST request. */
    if (p.iters > (GRANT_USES - 1 - p.warm) / p.rounds)
        p.iters = (GRANT_USES - 1 - p.warm) / p.rounds;
    return p;
}

/* ---- client ----------------------------------------------------------------- */

static int
acquire_one (const char *mode, int *reason)
{
    struct uffdio_api api = { .api = UFFD_API };
    int fd;

    *reason = 0;
    if (!strcmp (mode, "syscall")) {
        fd = (int) syscall (SYS_userfaultfd, UFFD_FLAGS);
    } else if (!strcmp (mode, "device")) {
        int dev = open ("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev < 0)
            return -1;
        fd = ioctl (dev, USERFAULTFD_IOC_NEW, UFFD_FLAGS);
        close (dev);
    } else {
        fd = uffd_shim_userfaultfd (UFFD_FLAGS, 0, reason);
    }
    if (fd < 0)
        return -1;
    if (ioctl (fd, UFFDIO_API, &api) < 0) {
        int e = errno;
        close (fd);
        errno = e;
        return -1;
    }
    close (fd);
    return 0;
}

static int
client_main (int argc, char **argv)
{
    const char *mode;
    unsigned idx;
    Plan p;
    char *base;
    ClientHdr *h;
    uint64_t *samples;
    char b = 0;

    if (argc != 7)
        return 2;
    mode = argv[2];
    idx = (unsigned) atoi (argv[3]);
    p.iters = (unsigned) atoi (argv[4]);
    p.rounds = (unsigned) atoi (argv[5]);
    p.warm = (unsigned) atoi (argv[6]);
    if (p.rounds < 1 || p.rounds > MAX_ROUNDS)
        return 2;
    base = mmap (NULL, client_area (&p) * (idx + 1), PROT_READ | PROT_WRITE, MAP_SHARED, FD_SHM, 0);
    if (base == MAP_FAILED)
        return 3;
    h = (ClientHdr *) (base + client_area (&p) * idx);
    samples = (uint64_t *) (h + 1);
    if (bench_write_full (FD_READY, &b, 1) < 0)
        return 3;
    for (unsigned r = 0; r <= p.rounds; r++) {
        unsigned n = r == 0 ? p.warm : p.iters;

        if (bench_read_full (FD_GO + (int) r, &b, 1) < 0)
            return 3;
        __atomic_store_n (&h->started, r + 1, __ATOMIC_SEQ_CST);
        for (unsigned i = 0; i < n; i++) {
            int reason;
            uint64_t t0 = bench_now_ns (), t1;
            int rc = acquire_one (mode, &reason);

            t1 = bench_now_ns ();
            if (rc < 0 && h->errors++ == 0) {
                h->first_errno = errno;
                h->first_reason = reason;
            }
            if (r > 0)
                samples[(size_t) (r - 1) * p.iters + i] = t1 - t0;
        }
        __atomic_store_n (&h->finished, r + 1, __ATOMIC_SEQ_CST);
        if (bench_write_full (FD_DONE, &b, 1) < 0)
            return 3;
    }
    return h->errors ? 1 : 0;
}

/* ---- driver --------------------------------------------------------------- */

typedef struct {
    const char *mode, *socket, *admin, *run_dir;
    uid_t qemu_uid;
    pid_t broker;
} Opts;

static int
cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}

static double
pct (const uint64_t *v, size_t n, double q)
{
    size_t i = (size_t) ceil (q * (double) n);

    return (double) v[i ? i - 1 : 0] / 1000.0;
}

static int
grant_all (const Opts *o, unsigned conc)
{
    for (unsigned i = 0; i < conc; i++) {
        char name[32], text[37];
        uint8_t uuid[16];
        int st;

        snprintf (name, sizeof name, "bench-%u", i);
        bench_domain_uuid (i, uuid, text);
        st = uffd_shim_admin_grant (o->admin, name, uuid, 3600, GRANT_USES,
                                    UFFD_SHIM_GRANT_REPLACE, 10000);
        if (st != 0) {
            fprintf (stderr, "bench-acquire: grant %s: %s\n", name, uffd_shim_status_str (st));
            return -1;
        }
    }
    return 0;
}

static uint64_t
handed_out (const Opts *o)
{
    struct uffd_shim_status_record r;

    return uffd_shim_admin_status (o->admin, &r, 10000) == 0 ? r.handed_out : 0;
}

/*
 * After the driver collected round @r's DONE bytes: every client has begun
 * and ended exactly rounds 0..@r, none is already in a later one (see the
 * barrier, above).
 */
static int
round_complete (const char *base, size_t area, unsigned conc, unsigned r)
{
    for (unsigned i = 0; i < conc; i++) {
        const ClientHdr *h = (const ClientHdr *) (base + area * i);
        unsigned started = __atomic_load_n (&h->started, __ATOMIC_SEQ_CST);
        unsigned finished = __atomic_load_n (&h->finished, __ATOMIC_SEQ_CST);

        if (started != r + 1 || finished != r + 1) {
            fprintf (stderr, "bench-acquire: round %u ended with client %u at %u round(s) begun, "
                     "%u ended: the barrier let rounds mix\n", r, i, started, finished);
            return 0;
        }
    }
    return 1;
}

static int
run_level (const Opts *o, const char *self, unsigned conc)
{
    Plan p = plan_for (conc);
    size_t area = client_area (&p), total = (size_t) conc * p.iters * p.rounds, k = 0;
    int ready[2], go[MAX_ROUNDS + 1][2], done[2], shm;
    pid_t *pids = calloc (conc, sizeof *pids);
    uint64_t *all = malloc (total * sizeof *all), wall = 0, cpu = 0, handed = 0;
    char *base;
    int failed = 0;
    unsigned long errors = 0;
    double mean = 0;
    char *buf = malloc (conc);

    if (!pids || !all || !buf || p.rounds > MAX_ROUNDS || pipe2 (ready, O_CLOEXEC) < 0 ||
        pipe2 (done, O_CLOEXEC) < 0 || (shm = memfd_create ("bench-acquire", MFD_CLOEXEC)) < 0 ||
        ftruncate (shm, (off_t) (area * conc)) < 0)
        return -1;
    for (unsigned r = 0; r <= p.rounds; r++)
        if (pipe2 (go[r], O_CLOEXEC) < 0)
            return -1;
    base = mmap (NULL, area * conc, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
    if (base == MAP_FAILED)
        return -1;
    if (!strcmp (o->mode, "library") && grant_all (o, conc) < 0)
        return -1;
    fprintf (stderr, "bench-acquire: %s, %u client(s), %u x %u acquisitions each\n", o->mode, conc,
             p.rounds, p.iters);
    for (unsigned i = 0; i < conc; i++) {
        char idx[16], it[16], rd[16], wm[16], name[32], text[37];
        uint8_t uuid[16];
        char *argv[] = { (char *) self, "child", (char *) o->mode, idx, it, rd, wm, NULL };
        int keep[3 + MAX_ROUNDS + 1] = { ready[1], done[1], shm };
        int lib = !strcmp (o->mode, "library");

        for (unsigned r = 0; r <= p.rounds; r++)
            keep[3 + r] = go[r][0];
        snprintf (idx, sizeof idx, "%u", i);
        snprintf (it, sizeof it, "%u", p.iters);
        snprintf (rd, sizeof rd, "%u", p.rounds);
        snprintf (wm, sizeof wm, "%u", p.warm);
        snprintf (name, sizeof name, "bench-%u", i);
        bench_domain_uuid (i, uuid, text);
        pids[i] = bench_launch (argv, o->run_dir, lib ? name : NULL, text,
                                strcmp (o->mode, "device") ? o->qemu_uid : (uid_t) -1, keep,
                                3 + (int) p.rounds + 1);
        if (pids[i] < 0)
            return -1;
    }
    close (ready[1]);
    close (done[1]);
    for (unsigned r = 0; r <= p.rounds; r++)
        close (go[r][0]);
    if (bench_read_full (ready[0], buf, conc) < 0) {
        fprintf (stderr, "bench-acquire: clients did not start\n");
        failed = 1;
    }
    for (unsigned r = 0; !failed && r <= p.rounds; r++) {
        uint64_t t0, t1, c0, h0;

        h0 = o->broker ? handed_out (o) : 0;
        c0 = o->broker ? bench_cpu_ns (o->broker) : 0;
        t0 = bench_now_ns ();
        memset (buf, 'g', conc);
        if (bench_write_full (go[r][1], buf, conc) < 0 || bench_read_full (done[0], buf, conc) < 0) {
            fprintf (stderr, "bench-acquire: a client died\n");
            failed = 1;
            break;
        }
        t1 = bench_now_ns ();
        if (!round_complete (base, area, conc, r)) {
            failed = 1;
            break;
        }
        if (r > 0) {
            wall += t1 - t0;
            cpu += o->broker ? bench_cpu_ns (o->broker) - c0 : 0;
            handed += o->broker ? handed_out (o) - h0 : 0;
        }
    }
    for (unsigned r = 0; r <= p.rounds; r++)
        close (go[r][1]);
    for (unsigned i = 0; i < conc; i++) {
        int ws;
        ClientHdr *h = (ClientHdr *) (base + area * i);

        if (waitpid (pids[i], &ws, 0) < 0 || !WIFEXITED (ws) ||
            (WEXITSTATUS (ws) != 0 && !(WEXITSTATUS (ws) == 1 && h->errors))) {
            fprintf (stderr, "bench-acquire: client %u: exit status %#x\n", i, ws);
            failed = 1;
        }
        if (h->errors) {
            /* Failed acquisitions stay in the latency figures (they took
             * that long) and are counted; the caller fails the run. */
            if (errors == 0)
                fprintf (stderr, "bench-acquire: client %u: %u failed acquisition(s), first: %s "
                         "(reason %d: %s)\n", i, h->errors, strerror (h->first_errno),
                         h->first_reason, uffd_shim_strreason (h->first_reason));
            errors += h->errors;
        }
        memcpy (all + k, h + 1, (size_t) p.iters * p.rounds * sizeof *all);
        k += (size_t) p.iters * p.rounds;
    }
    if (!strcmp (o->mode, "library")) {
        for (unsigned i = 0; i < conc; i++) {
            char name[32], path[4096];

            snprintf (name, sizeof name, "bench-%u", i);
            (void) uffd_shim_admin_revoke (o->admin, name, 10000);
            snprintf (path, sizeof path, "%s/%s.pid", o->run_dir, name);
            unlink (path);
            snprintf (path, sizeof path, "%s/%s.xml", o->run_dir, name);
            unlink (path);
        }
        if (!failed && handed != total - errors) {
            fprintf (stderr, "bench-acquire: the broker counted %llu hand-outs for %zu "
                     "successful acquisitions (is the knob 0?)\n", (unsigned long long) handed,
                     total - errors);
            failed = 1;
        }
    }
    if (failed)
        return -1;
    qsort (all, total, sizeof *all, cmp_u64);
    for (size_t i = 0; i < total; i++)
        mean += (double) all[i];
    mean /= (double) total * 1000.0;
    printf ("{\"mode\": \"%s\", \"concurrency\": %u, \"acquisitions\": %zu, \"errors\": %lu, "
            "\"rounds\": %u, "
            "\"seconds\": %.6f, \"throughput_per_s\": %.1f, \"p50_us\": %.2f, \"p90_us\": %.2f, "
            "\"p99_us\": %.2f, \"p999_us\": %.2f, \"max_us\": %.2f, \"mean_us\": %.2f",
            o->mode, conc, total, errors, p.rounds, (double) wall / 1e9,
            (double) total / ((double) wall / 1e9), pct (all, total, 0.5), pct (all, total, 0.9),
            pct (all, total, 0.99), pct (all, total, 0.999), (double) all[total - 1] / 1000.0, mean);
    if (o->broker)
        printf (", \"broker_handouts\": %llu, \"broker_cpu_us_per_handout\": %.2f",
                (unsigned long long) handed,
                handed ? (double) cpu / 1000.0 / (double) handed : 0.0);
    printf ("}\n");
    fflush (stdout);
    munmap (base, area * conc);
    close (shm);
    close (ready[0]);
    close (done[0]);
    free (pids);
    free (all);
    free (buf);
    return errors ? 1 : 0;
}

static int
usage (void)
{
    fprintf (stderr, "usage: bench-acquire run --mode syscall|device|library [--concurrency 1,16,256] "
             "[--qemu-uid UID] [--socket S --admin-socket A --run-dir DIR --broker-pid P]\n");
    return 2;
}

int
main (int argc, char **argv)
{
    Opts o = { .qemu_uid = 64055 };
    const char *levels = "1,16,256";
    char self[4096];
    int status = 0;
    ssize_t n;

    if (argc >= 2 && !strcmp (argv[1], "child"))
        return client_main (argc, argv);
    if (argc < 2 || strcmp (argv[1], "run"))
        return usage ();
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];

        if (!strcmp (k, "--mode"))
            o.mode = v;
        else if (!strcmp (k, "--concurrency"))
            levels = v;
        else if (!strcmp (k, "--qemu-uid"))
            o.qemu_uid = (uid_t) atoi (v);
        else if (!strcmp (k, "--socket"))
            o.socket = v;
        else if (!strcmp (k, "--admin-socket"))
            o.admin = v;
        else if (!strcmp (k, "--run-dir"))
            o.run_dir = v;
        else if (!strcmp (k, "--broker-pid"))
            o.broker = (pid_t) atoi (v);
        else
            return usage ();
    }
    if (!o.mode || (strcmp (o.mode, "syscall") && strcmp (o.mode, "device") &&
                    strcmp (o.mode, "library")))
        return usage ();
    if (!strcmp (o.mode, "library") && (!o.socket || !o.admin || !o.run_dir))
        return usage ();
    if (strcmp (o.mode, "library"))
        o.broker = 0;
    if (o.socket)
        setenv ("UFFD_SHIM_SOCKET", o.socket, 1);
    n = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    signal (SIGPIPE, SIG_IGN);
    for (char *save = NULL, *l = strtok_r (strdup (levels), ",", &save); l;
         l = strtok_r (NULL, ",", &save)) {
        unsigned conc = (unsigned) atoi (l);
        int rc;

        if (conc < 1 || conc > MAX_CLIENTS)
            return usage ();
        rc = run_level (&o, self, conc);
        if (rc < 0) {
            fprintf (stderr, "bench-acquire: %s at %u client(s) failed\n", o.mode, conc);
            return 1;
        }
        if (rc > 0) {
            fprintf (stderr, "bench-acquire: %s at %u client(s): some acquisitions failed\n",
                     o.mode, conc);
            status = 1;
        }
    }
    return status;
}
