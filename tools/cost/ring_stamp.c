/* What a busy 64 B round trip through two shared-memory rings costs against the spin ping-pong
 * on one cache line, and how much of the difference is the reader waiting for the writer's
 * `tail` before it reads the record (docs/PERFORMANCE.md, "What the sixteenth part changed").
 * Two processes pinned to CPUs 0 and 1 send a 64 B message back and forth, each answering the
 * other's, in one run:
 *   pingpong  one shared cache line: each side waits for the other's count, then bumps it (the
 *             `npipe bench` floor);
 *   tail      two rings of 72 B records (an 8 B header and the payload, as npipe's are), each
 *             with its writer's `tail` and its reader's `head` on lines of their own: the writer
 *             copies the record in and publishes `tail` (Release), the reader spins on `tail`
 *             (Acquire), then reads the header and copies the payload out, then publishes
 *             `head`. The reader's look at `tail` and its read of the record are two cache-line
 *             transfers, one after the other (the `npipe bench` ring floor; what npipe does);
 *   stamp     the same rings, the writer storing the header last (Release) with a stamp of the
 *             record's position, and publishing `tail` after it as before; the reader spins on
 *             the header where the next record goes (Acquire) and reads the record when the
 *             stamp is the one it expects, without looking at `tail`: one transfer to find and
 *             read the record, the other overlapping it.
 * Prints each variant's round trip (median of ROUNDS rounds, in ns) and its ratio to the
 * ping-pong of the same round.
 *
 *   cc -O2 -o /tmp/ring_stamp tools/cost/ring_stamp.c && /tmp/ring_stamp [round trips]
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RING 4096u /* bytes per ring: a 4 KiB quota's */
#define REC 72u    /* header + 64 B payload */
#define ROUNDS 7

struct ring {
    _Alignas(128) _Atomic uint64_t tail; /* bytes published */
    _Alignas(128) _Atomic uint64_t head; /* bytes consumed */
    _Alignas(128) unsigned char data[RING + REC];
};

struct shared {
    _Alignas(128) _Atomic uint64_t line; /* the ping-pong's one line */
    _Alignas(128) _Atomic int go;        /* round number the parent started */
    struct ring r[2];                    /* r[0]: parent to child, r[1]: child to parent */
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    if (sched_setaffinity(0, sizeof s, &s) != 0) perror("sched_setaffinity");
}

static inline void relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Where the record at byte position `pos` goes: records never wrap (a record that would cross
 * the end starts the next lap, as npipe's skip records make them). */
static inline uint64_t place(uint64_t pos) { return pos % RING; }
static inline uint64_t next_pos(uint64_t pos) {
    uint64_t off = place(pos);
    return off + REC > RING ? pos + (RING - off) + REC : pos + REC;
}
static inline uint64_t start_of(uint64_t pos) { return place(pos) + REC > RING ? pos + (RING - place(pos)) : pos; }

/* Per-side private state of one ring end. */
struct end {
    uint64_t pos;        /* writer: next record's position; reader: next to read */
    uint64_t other_seen; /* writer: head last seen; reader: tail last seen */
};

static void send_tail(struct ring *r, struct end *e, const unsigned char *msg) {
    uint64_t at = start_of(e->pos), end = at + REC;
    while (end - e->other_seen > RING) {
        e->other_seen = atomic_load_explicit(&r->head, memory_order_acquire);
        relax();
    }
    unsigned char *p = r->data + place(at);
    uint64_t h = 64;
    memcpy(p, &h, 8);
    memcpy(p + 8, msg, 64);
    e->pos = end;
    atomic_store_explicit(&r->tail, end, memory_order_release);
}

static void recv_tail(struct ring *r, struct end *e, unsigned char *out) {
    uint64_t at = start_of(e->pos), end = at + REC;
    while (e->other_seen < end) {
        e->other_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (e->other_seen < end) relax();
    }
    const unsigned char *p = r->data + place(at);
    uint64_t h;
    memcpy(&h, p, 8);
    memcpy(out, p + 8, h <= 64 ? h : 64);
    e->pos = end;
    atomic_store_explicit(&r->head, end, memory_order_release);
}

/* The stamp: the record's position in 8 B units, plus one (never 0, never a previous lap's). */
static inline uint64_t stamp_of(uint64_t at, uint64_t len) { return ((at / 8 + 1) << 16) | len; }

static void send_stamp(struct ring *r, struct end *e, const unsigned char *msg) {
    uint64_t at = start_of(e->pos), end = at + REC;
    while (end - e->other_seen > RING) {
        e->other_seen = atomic_load_explicit(&r->head, memory_order_acquire);
        relax();
    }
    unsigned char *p = r->data + place(at);
    memcpy(p + 8, msg, 64);
    atomic_store_explicit((_Atomic uint64_t *)p, stamp_of(at, 64), memory_order_release);
    e->pos = end;
    atomic_store_explicit(&r->tail, end, memory_order_release);
}

static void recv_stamp(struct ring *r, struct end *e, unsigned char *out) {
    uint64_t at = start_of(e->pos), end = at + REC;
    const unsigned char *p = r->data + place(at);
    uint64_t h;
    while (((h = atomic_load_explicit((_Atomic uint64_t *)p, memory_order_acquire)) >> 16) != at / 8 + 1) relax();
    uint64_t len = h & 0xffff;
    memcpy(out, p + 8, len <= 64 ? len : 64);
    e->pos = end;
    atomic_store_explicit(&r->head, end, memory_order_release);
}

enum { PINGPONG, TAIL, STAMP, VARIANTS };
static const char *names[VARIANTS] = {"pingpong", "tail", "stamp"};

static void reset(struct shared *s) {
    atomic_store(&s->line, 0);
    for (int i = 0; i < 2; i++) {
        atomic_store(&s->r[i].tail, 0);
        atomic_store(&s->r[i].head, 0);
        memset(s->r[i].data, 0, sizeof s->r[i].data);
    }
}

/* One side's run of `n` round trips of variant `v`; the parent (`first`) sends first. */
static void run(struct shared *s, int v, long n, int first) {
    unsigned char msg[64], in[64];
    memset(msg, first ? 1 : 2, sizeof msg);
    struct end tx = {0, 0}, rx = {0, 0};
    struct ring *out = &s->r[first ? 0 : 1], *inr = &s->r[first ? 1 : 0];
    if (v == PINGPONG) {
        for (long i = 0; i < n; i++) {
            uint64_t want = 2 * (uint64_t)i + (first ? 0 : 1);
            while (atomic_load_explicit(&s->line, memory_order_acquire) != want) relax();
            atomic_store_explicit(&s->line, want + 1, memory_order_release);
        }
        return;
    }
    for (long i = 0; i < n; i++) {
        if (first) {
            if (v == TAIL) send_tail(out, &tx, msg), recv_tail(inr, &rx, in);
            else send_stamp(out, &tx, msg), recv_stamp(inr, &rx, in);
        } else {
            if (v == TAIL) recv_tail(inr, &rx, in), send_tail(out, &tx, in);
            else recv_stamp(inr, &rx, in), send_stamp(out, &tx, in);
        }
    }
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) return perror("mmap"), 1;
    atomic_store(&s->go, -1);
    pid_t child = fork();
    if (child < 0) return perror("fork"), 1;
    if (child == 0) {
        pin(1);
        for (int round = 0; round < ROUNDS * VARIANTS; round++) {
            while (atomic_load(&s->go) != round) relax();
            run(s, round % VARIANTS, n, 0);
        }
        _exit(0);
    }
    pin(0);
    double t[VARIANTS][ROUNDS], ratio[VARIANTS][ROUNDS];
    for (int round = 0; round < ROUNDS * VARIANTS; round++) {
        int v = round % VARIANTS;
        reset(s);
        atomic_store(&s->go, round);
        double t0 = now();
        run(s, v, n, 1);
        t[v][round / VARIANTS] = (now() - t0) / n * 1e9;
    }
    waitpid(child, NULL, 0);
    for (int r = 0; r < ROUNDS; r++)
        for (int v = 0; v < VARIANTS; v++) ratio[v][r] = t[v][r] / t[PINGPONG][r];
    printf("%ld round trips of 64 B, median of %d rounds (CPUs 0 and 1)\n", n, ROUNDS);
    for (int v = 0; v < VARIANTS; v++) {
        qsort(t[v], ROUNDS, sizeof(double), cmp);
        qsort(ratio[v], ROUNDS, sizeof(double), cmp);
        printf("  %-9s %7.1f ns  [%6.1f..%6.1f]  %5.2fx ping-pong [%4.2f..%4.2f]\n", names[v], t[v][ROUNDS / 2], t[v][0],
               t[v][ROUNDS - 1], ratio[v][ROUNDS / 2], ratio[v][0], ratio[v][ROUNDS - 1]);
    }
    return 0;
}
