/* What moving 1 MiB messages from one process to another can reach on this machine, beside
 * memcpy in one process, all in one run (docs/PERFORMANCE.md, "What the fifteenth part
 * measured"). Two processes pinned to CPUs 0 and 1 share a ring; the producer copies each
 * message in, in pieces it publishes as it goes, and the consumer takes them out as they come:
 *   copy   the consumer copies each piece into its own 1 MiB buffer (what a pipe must do);
 *   read   the consumer only reads each piece (sums it): no copy at all on its side, the most
 *          any one-copy scheme could get;
 *   nt     as copy, the producer writing with non-temporal stores (no read for ownership).
 * each at ring sizes 256 KiB, 1 MiB and 4 MiB (npipe's large-message ring). memcpy is the same
 * 1 MiB copy within one process, measured between the others. Prints GB/s and the ratio to the
 * memcpy of the same round; the median of ROUNDS rounds is what to read.
 *
 *   cc -O2 -mavx2 -o /tmp/copy_ceiling tools/cost/copy_ceiling.c && /tmp/copy_ceiling [messages]
 */
#define _GNU_SOURCE
#include <immintrin.h>
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

#define MSG (1u << 20)
#define PIECE (16u << 10)
#define ROUNDS 5

struct shared {
    _Alignas(128) _Atomic uint64_t tail; /* bytes the producer published */
    _Alignas(128) _Atomic uint64_t head; /* bytes the consumer took */
    _Alignas(128) _Atomic uint64_t sink; /* keeps the read variant's sums alive */
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
    sched_setaffinity(0, sizeof s, &s);
}

static void nt_copy(char *d, const char *s, size_t n) {
    for (size_t i = 0; i < n; i += 64) {
        __m256i a = _mm256_load_si256((const __m256i *)(s + i));
        __m256i b = _mm256_load_si256((const __m256i *)(s + i + 32));
        _mm256_stream_si256((__m256i *)(d + i), a);
        _mm256_stream_si256((__m256i *)(d + i + 32), b);
    }
    _mm_sfence();
}

/* Reads every byte, 128 at a time with four vector accumulators, so the loop is limited by the
 * loads and not by its additions. */
static uint64_t sum(const char *p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i *)(p + i)));
        b = _mm256_add_epi64(b, _mm256_load_si256((const __m256i *)(p + i + 32)));
        c = _mm256_add_epi64(c, _mm256_load_si256((const __m256i *)(p + i + 64)));
        d = _mm256_add_epi64(d, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, a);
    return out[0] + out[1] + out[2] + out[3];
}

enum mode { COPY, READ, NT };

/* GB/s of `count` messages through a ring of `ring` bytes. */
static double transfer(enum mode m, size_t ring, int count) {
    char *map = mmap(NULL, 4096 + ring, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return 0;
    struct shared *sh = (struct shared *)map;
    char *r = map + 4096;
    memset(map, 0, 4096 + ring);
    uint64_t total = (uint64_t)count * MSG;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        char *dst = aligned_alloc(4096, MSG);
        memset(dst, 0, MSG);
        uint64_t head = 0, acc = 0;
        while (head < total) {
            uint64_t t;
            while ((t = atomic_load_explicit(&sh->tail, memory_order_acquire)) == head) {
            }
            while (head < t) {
                size_t off = head % ring, n = t - head, at = head % MSG;
                if (n > ring - off) n = ring - off;
                if (n > MSG - at) n = MSG - at;
                if (m == READ) acc += sum(r + off, n);
                else memcpy(dst + at, r + off, n);
                head += n;
                atomic_store_explicit(&sh->head, head, memory_order_release);
            }
        }
        atomic_store(&sh->sink, acc + (uint64_t)dst[7]);
        _exit(0);
    }
    pin(0);
    char *src = aligned_alloc(4096, MSG);
    memset(src, 0x5a, MSG);
    uint64_t tail = 0;
    double t0 = now();
    while (tail < total) {
        size_t off = tail % ring, n = PIECE;
        if (n > ring - off) n = ring - off;
        while (tail + n - atomic_load_explicit(&sh->head, memory_order_acquire) > ring) {
        }
        if (m == NT) nt_copy(r + off, src + tail % MSG, n);
        else memcpy(r + off, src + tail % MSG, n);
        tail += n;
        atomic_store_explicit(&sh->tail, tail, memory_order_release);
    }
    while (atomic_load_explicit(&sh->head, memory_order_acquire) < total) {
    }
    double dt = now() - t0;
    waitpid(pid, NULL, 0);
    free(src);
    munmap(map, 4096 + ring);
    return total / dt / 1e9;
}

static double memcpy_rate(int count) {
    pin(0);
    char *src = aligned_alloc(4096, MSG), *buf = aligned_alloc(4096, MSG + 4096);
    char *dst = buf + 64; /* not at the source's offset in a page (4K aliasing) */
    memset(src, 0x5a, MSG);
    memset(buf, 0, MSG + 4096);
    double t0 = now();
    for (int i = 0; i < count; i++) {
        memcpy(dst, src, MSG);
        __asm__ volatile("" : : "r"(dst) : "memory");
    }
    double g = (double)count * MSG / (now() - t0) / 1e9;
    free(src);
    free(buf);
    return g;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 2000;
    const char *names[] = {"copy", "read", "nt"};
    size_t rings[] = {256u << 10, 1u << 20, 4u << 20};
    double ratio[3][3][ROUNDS], gbs[3][3][ROUNDS], mem[ROUNDS];
    for (int k = 0; k < ROUNDS; k++) {
        mem[k] = memcpy_rate(count);
        for (int m = 0; m < 3; m++)
            for (int s = 0; s < 3; s++) {
                gbs[m][s][k] = transfer((enum mode)m, rings[s], count);
                ratio[m][s][k] = gbs[m][s][k] / mem[k];
            }
    }
    qsort(mem, ROUNDS, sizeof mem[0], cmp);
    printf("memcpy in one process: median %.1f GB/s [%.1f..%.1f]\n", mem[ROUNDS / 2], mem[0], mem[ROUNDS - 1]);
    printf("%-5s %-8s %22s %24s\n", "", "ring", "GB/s median [min..max]", "x memcpy median [min..max]");
    for (int m = 0; m < 3; m++)
        for (int s = 0; s < 3; s++) {
            qsort(gbs[m][s], ROUNDS, sizeof(double), cmp);
            qsort(ratio[m][s], ROUNDS, sizeof(double), cmp);
            printf("%-5s %5zu KiB %7.1f [%5.1f..%5.1f] %10.2f [%4.2f..%4.2f]\n", names[m], rings[s] >> 10,
                   gbs[m][s][ROUNDS / 2], gbs[m][s][0], gbs[m][s][ROUNDS - 1], ratio[m][s][ROUNDS / 2],
                   ratio[m][s][0], ratio[m][s][ROUNDS - 1]);
        }
    return 0;
}
