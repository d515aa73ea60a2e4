/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Linux test guest workload: keeps RAM dirty and verifies memory, a virtio disk and a tmpfs file every round. */

/*
 * Theory of operation
 *
 * Runs inside the test guest (started by init.sh, statically linked) and
 * prints one line per event on stdout, which is the serial console:
 *
 *   UG START mem=<MiB> disk=<dev>:<MiB> tmpfs=<MiB> taint=<n> clock=<clocksource>
 *   UG P r=<round> gen=<g> t=<s> mem=<ms> disk=<ms> tmpfs=<ms> taint=<n> err=<total>
 *                            after a round, at most one a second and at
 *                            least every PRINT_ROUNDS rounds (the times are
 *                            those of the round just done); the second rule
 *                            counts progress in rounds, not in the guest's
 *                            own time, whatever its clock does across a
 *                            migration
 *   UG ERR <what> ...        one line per problem (a few per round, then a count)
 *
 * A round is:
 *   1. memory: a region of mem MiB (default 160) of 4 KiB pages. Word j of
 *      page i holds ((i << 32) | gen) ^ (j * K). Every page is checked
 *      against the current generation, then rewritten with the next one, so
 *      the whole region is dirty again every round (precopy under a
 *      bandwidth cap cannot converge) and a page that migration lost
 *      (zero), left stale (the previous generation) or mixed up (another
 *      page's index) is caught and named by kind.
 *   2. disk, interleaved with 1.: the memory pass is cut into one segment
 *      per MiB of the virtio-blk disk (made by `guest-load --make-disk`);
 *      after each segment that MiB is read with O_DIRECT into a slot of a
 *      buffer of the disk's size that the CPU never writes (the slot
 *      rotates every round), and every word is checked. The device writes
 *      those slots each round, so they are dirty at any postcopy switch,
 *      and on the destination the host kernel's read into guest RAM
 *      (QEMU's I/O path) is the first access to their missing pages: a
 *      kernel-mode userfault. A failed read (EIO) or wrong content is an
 *      error.
 *   3. tmpfs: a file written once at start (xorshift content) is read back
 *      and its checksum compared with the one computed at creation; on a
 *      mismatch the first wrong offset is reported.
 *   4. /proc/sys/kernel/tainted: a change (BUG, oops, warning) is an error.
 *
 * Parameters come from the kernel command line (ug.mem=, ug.disk=,
 * ug.tmpfs=, ug.tmpfs-dir=) so one initramfs serves every size.
 *
 * On the build host the same binary writes the disk image:
 *   guest-load --make-disk FILE MIB
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define WORDS (PAGE / 8u)
#define MEM_K UINT64_C(0x9e3779b97f4a7c15)
#define DISK_MAGIC UINT64_C(0x5546465344534b00) /* "UFFDSDK\0" */
#define DISK_K UINT64_C(0xd6e8feb86659fd93)
#define CHUNK (1024u * 1024u)
#define ERR_LINES_PER_ROUND 4
#define PRINT_ROUNDS 32

static unsigned long errors_total;
static unsigned round_err_lines;

static void say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n > sizeof(buf) - 2) {
        n = sizeof(buf) - 2;
    }
    buf[n++] = '\n';
    for (char *p = buf; n > 0;) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return;
        }
        p += w;
        n -= w;
    }
}

/* error: count one error; print its line unless this round printed enough. */
static void error(const char *fmt, ...)
{
    char buf[400];
    va_list ap;

    errors_total++;
    if (round_err_lines++ >= ERR_LINES_PER_ROUND) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    say("UG ERR %s", buf);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned ms_since(double t0)
{
    return (unsigned)((now() - t0) * 1000.0);
}

static uint64_t disk_word(uint64_t block, unsigned j)
{
    return ((block << 32) | j) ^ DISK_MAGIC ^ (j * DISK_K);
}

/* ---- memory --------------------------------------------------------- */

static uint64_t *mem;
static size_t mem_pages;

static const char *mem_kind(uint64_t got, size_t i, unsigned j, uint32_t gen, char *buf, size_t len)
{
    uint64_t base = got ^ (j * MEM_K);
    uint64_t gi = base >> 32;
    uint32_t gg = (uint32_t)base;

    if (got == 0) {
        return "zero";
    }
    if (gi == i && gg + 1 == gen) {
        return "stale(previous generation)";
    }
    if (gi == i) {
        snprintf(buf, len, "wrong-generation(%" PRIu32 ")", gg);
        return buf;
    }
    if (gi < mem_pages) {
        snprintf(buf, len, "other-page(%" PRIu64 " gen %" PRIu32 ")", gi, gg);
        return buf;
    }
    return "garbage";
}

static void mem_init(void)
{
    for (size_t i = 0; i < mem_pages; i++) {
        uint64_t *p = mem + i * WORDS, v = (uint64_t)i << 32, x = 0;
        for (unsigned j = 0; j < WORDS; j++, x += MEM_K) {
            p[j] = v ^ x;
        }
    }
}

/* mem_check_pages: check pages [lo, hi) against gen, then write gen + 1. */
static void mem_check_pages(size_t lo, size_t hi, uint32_t gen)
{
    for (size_t i = lo; i < hi; i++) {
        uint64_t *p = mem + i * WORDS;
        uint64_t want = ((uint64_t)i << 32) | gen, next = want + 1, x = 0;
        unsigned j;

        for (j = 0; j < WORDS; j++, x += MEM_K) {
            if (p[j] != (want ^ x)) {
                break;
            }
        }
        if (j < WORDS) {
            char kb[64];
            unsigned nbad = 0;
            uint64_t y = x;
            for (unsigned k = j; k < WORDS; k++, y += MEM_K) {
                nbad += p[k] != (want ^ y);
            }
            error("mem page=%zu word=%u got=%016" PRIx64 " want=%016" PRIx64 " kind=%s bad-words=%u",
                  i, j, p[j], want ^ x, mem_kind(p[j], i, j, gen, kb, sizeof(kb)), nbad);
        }
        x = 0;
        for (j = 0; j < WORDS; j++, x += MEM_K) {
            p[j] = next ^ x;
        }
    }
}

/* ---- disk ----------------------------------------------------------- */

static int disk_fd = -1;
static uint64_t disk_bytes;
static uint64_t *disk_buf;

/*
 * disk_read_chunk: read disk chunk c (CHUNK bytes) with O_DIRECT into slot
 * (c + round) mod chunks of the buffer and check it. The slot changes every
 * round, so a read that reports success without writing the buffer leaves
 * another chunk's data there and is caught too.
 */
static void disk_read_chunk(uint64_t c, unsigned long round)
{
    uint64_t chunks = disk_bytes / CHUNK, off = c * CHUNK;
    uint64_t *b = disk_buf + ((c + round) % chunks) * (CHUNK / 8);
    ssize_t n = pread(disk_fd, b, CHUNK, off);

    if (n < 0) {
        error("disk read off=%" PRIu64 " len=%u: %s", off, CHUNK, strerror(errno));
        return;
    }
    if ((size_t)n != CHUNK) {
        error("disk read off=%" PRIu64 " len=%u: short read %zd", off, CHUNK, n);
        return;
    }
    for (size_t w = 0; w < CHUNK / 8; w++) {
        uint64_t block = (off + w * 8) / PAGE;
        unsigned j = w % WORDS;
        if (b[w] != disk_word(block, j)) {
            uint64_t got = b[w] ^ DISK_MAGIC ^ (j * DISK_K);
            error("disk content off=%" PRIu64 " got=%016" PRIx64 " want=%016" PRIx64
                  " (looks like block %" PRIu64 ")",
                  off + w * 8, b[w], disk_word(block, j), got >> 32);
            return;
        }
    }
}

static int disk_open(const char *dev)
{
    disk_fd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (disk_fd < 0) {
        say("UG ERR disk open %s: %s", dev, strerror(errno));
        return -1;
    }
    if (ioctl(disk_fd, BLKGETSIZE64, &disk_bytes) < 0 || disk_bytes == 0 || disk_bytes % CHUNK) {
        say("UG ERR disk size of %s: %s", dev, strerror(errno));
        return -1;
    }
    disk_buf = mmap(NULL, disk_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (disk_buf == MAP_FAILED) {
        say("UG ERR disk buffer: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- tmpfs file ----------------------------------------------------- */

static char tmpfs_path[256];
static size_t tmpfs_bytes;
static uint64_t tmpfs_sum;
static uint64_t *io_buf;

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static uint64_t sum_words(uint64_t h, const uint64_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ w[i]) * UINT64_C(0x100000001b3);
        h ^= h >> 29;
    }
    return h;
}

static int tmpfs_create(void)
{
    uint64_t s = UINT64_C(0x2545f4914f6cdd1d), h = 0;
    int fd = open(tmpfs_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);

    if (fd < 0) {
        say("UG ERR tmpfs create %s: %s", tmpfs_path, strerror(errno));
        return -1;
    }
    for (size_t off = 0; off < tmpfs_bytes; off += CHUNK) {
        for (size_t w = 0; w < CHUNK / 8; w++) {
            io_buf[w] = xorshift(&s);
        }
        h = sum_words(h, io_buf, CHUNK / 8);
        if (write(fd, io_buf, CHUNK) != (ssize_t)CHUNK) {
            say("UG ERR tmpfs write: %s", strerror(errno));
            close(fd);
            return -1;
        }
    }
    close(fd);
    tmpfs_sum = h;
    return 0;
}

/* tmpfs_locate: the first offset whose content differs from what was written. */
static void tmpfs_locate(int fd)
{
    uint64_t s = UINT64_C(0x2545f4914f6cdd1d);

    for (size_t off = 0; off < tmpfs_bytes; off += CHUNK) {
        if (pread(fd, io_buf, CHUNK, off) != (ssize_t)CHUNK) {
            return;
        }
        for (size_t w = 0; w < CHUNK / 8; w++) {
            uint64_t want = xorshift(&s);
            if (io_buf[w] != want) {
                error("tmpfs first difference at offset %zu (page %zu): got=%016" PRIx64 " want=%016" PRIx64,
                      off + w * 8, (off + w * 8) / PAGE, io_buf[w], want);
                return;
            }
        }
    }
}

static void tmpfs_round(void)
{
    uint64_t h = 0;
    int fd = open(tmpfs_path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        error("tmpfs open: %s", strerror(errno));
        return;
    }
    for (size_t off = 0; off < tmpfs_bytes; off += CHUNK) {
        ssize_t n = pread(fd, io_buf, CHUNK, off);
        if (n != (ssize_t)CHUNK) {
            error("tmpfs read off=%zu: %s", off, n < 0 ? strerror(errno) : "short read");
            close(fd);
            return;
        }
        h = sum_words(h, io_buf, CHUNK / 8);
    }
    if (h != tmpfs_sum) {
        error("tmpfs checksum %016" PRIx64 " want %016" PRIx64, h, tmpfs_sum);
        tmpfs_locate(fd);
    }
    close(fd);
}

/* ---- the rest ------------------------------------------------------- */

/* read_line: the first line of a small file into buf ("" if unreadable). */
static void read_line(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);

    if (fd >= 0) {
        close(fd);
    }
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

static long read_taint(void)
{
    char buf[32];

    read_line("/proc/sys/kernel/tainted", buf, sizeof(buf));
    return buf[0] ? strtol(buf, NULL, 10) : -1;
}

/* cmdline_param: value of "ug.NAME=" on the kernel command line, or dflt. */
static const char *cmdline_param(const char *name, const char *dflt)
{
    static char line[4096];
    static int loaded;
    char key[64];
    const char *p;

    if (!loaded) {
        int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, line + 1, sizeof(line) - 2);
            line[0] = ' ';
            line[n > 0 ? n + 1 : 1] = '\0';
            close(fd);
        }
        loaded = 1;
    }
    snprintf(key, sizeof(key), " ug.%s=", name);
    p = strstr(line, key);
    if (!p) {
        return dflt;
    }
    p += strlen(key);
    static char val[256];
    size_t n = strcspn(p, " \n");
    if (n >= sizeof(val)) {
        n = sizeof(val) - 1;
    }
    memcpy(val, p, n);
    val[n] = '\0';
    return val;
}

static int make_disk(const char *file, const char *mib_s)
{
    unsigned long mib = strtoul(mib_s, NULL, 10);
    static uint64_t block[WORDS];
    FILE *f;

    if (mib == 0 || mib > 4096) {
        fprintf(stderr, "guest-load: bad size %s\n", mib_s);
        return 2;
    }
    f = fopen(file, "wb");
    if (!f) {
        perror(file);
        return 1;
    }
    for (uint64_t b = 0; b < mib * 256; b++) {
        for (unsigned j = 0; j < WORDS; j++) {
            block[j] = disk_word(b, j);
        }
        if (fwrite(block, PAGE, 1, f) != 1) {
            perror(file);
            fclose(f);
            return 1;
        }
    }
    return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    unsigned long mem_mib, tmpfs_mib;
    const char *dev;
    long taint0, taint;
    uint32_t gen = 0;
    double start, last;
    unsigned long last_r = 0;
    char clock[32];

    if (argc == 4 && strcmp(argv[1], "--make-disk") == 0) {
        return make_disk(argv[2], argv[3]);
    }
    mem_mib = strtoul(cmdline_param("mem", "160"), NULL, 10);
    tmpfs_mib = strtoul(cmdline_param("tmpfs", "8"), NULL, 10);
    dev = cmdline_param("disk", "/dev/vda");
    snprintf(tmpfs_path, sizeof(tmpfs_path), "%s/ref", cmdline_param("tmpfs-dir", "/data"));

    mem_pages = mem_mib * 256;
    tmpfs_bytes = tmpfs_mib * CHUNK;
    mem = mmap(NULL, mem_pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    io_buf = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || io_buf == MAP_FAILED) {
        say("UG ERR memory: %s", strerror(errno));
        return 1;
    }
    if (disk_open(dev) < 0 || tmpfs_create() < 0) {
        return 1;
    }
    mem_init();
    taint0 = read_taint();
    read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource", clock,
              sizeof(clock));
    say("UG START mem=%lu disk=%s:%" PRIu64 " tmpfs=%lu taint=%ld clock=%s", mem_mib, dev,
        disk_bytes >> 20, tmpfs_mib, taint0, clock[0] ? clock : "?");
    start = last = now();
    for (unsigned long r = 1;; r++) {
        double t;
        unsigned tm, td, tt;
        uint64_t chunks = disk_bytes / CHUNK;

        round_err_lines = 0;
        /*
         * The memory pass is cut into one segment per disk chunk, each
         * followed by the read of that chunk: on a postcopy destination a
         * read comes soon after any moment, while the source's page stream
         * follows the vCPU's faults through the memory region, so some
         * reads land in pages not yet there.
         */
        tm = td = 0;
        for (uint64_t c = 0; c < chunks; c++) {
            t = now();
            mem_check_pages(mem_pages * c / chunks, mem_pages * (c + 1) / chunks, gen);
            tm += ms_since(t);
            t = now();
            disk_read_chunk(c, r);
            td += ms_since(t);
        }
        gen++;
        t = now();
        tmpfs_round();
        tt = ms_since(t);
        taint = read_taint();
        if (taint != taint0) {
            error("kernel taint changed from %ld to %ld", taint0, taint);
            taint0 = taint;
        }
        if (round_err_lines > ERR_LINES_PER_ROUND) {
            say("UG ERR %u more errors in round %lu", round_err_lines - ERR_LINES_PER_ROUND, r);
        }
        if (now() - last < 1.0 && round_err_lines == 0 && r - last_r < PRINT_ROUNDS) {
            continue;
        }
        last = now();
        last_r = r;
        say("UG P r=%lu gen=%" PRIu32 " t=%.1f mem=%u disk=%u tmpfs=%u taint=%ld err=%lu", r, gen,
            now() - start, tm, td, tt, taint, errors_total);
    }
}
