/* The env-mode floor: the least a program must do to hand the fds an environment describes
 * (S6_FD#, S6_FD_i, S6_FDID_i, S6_FDLIMIT_i) to s6-fdholderd in one setdump: one pass over
 * environ into slots, connect, "!" total, then batches of at most 253 fds with SCM_RIGHTS,
 * one errno reply each. No checks beyond what keeps it from crashing; limits moved i ns
 * apart as the daemon needs (docs/PROTOCOL.md, defect 1). Not a tool: a yardstick for
 * bench/run.sh. Usage: env_floor SOCKET. Exit 0 on success, 1 on a failed exchange. */
#include <time.h>
#include "floor.h"

extern char **environ;

struct slot { const char *fd, *id, *limit; };

static uint64_t hex(const char *s, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = s[i];
        v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2) return 100;
    const char *count = 0;
    size_t nvars = 0;
    for (char **e = environ; *e; e++) {
        nvars++;
        if (!count && !strncmp(*e, "S6_FD#=", 7)) count = *e + 7;
    }
    if (!count) return 100;
    size_t n = strtoul(count, 0, 10);
    if (n > nvars) return 100;
    struct slot *sl = calloc(n ? n : 1, sizeof *sl);
    for (char **e = environ; *e; e++) {
        const char *v = *e;
        if (strncmp(v, "S6_FD", 5)) continue;
        v += 5;
        int k;
        if (*v == '_') k = 0, v += 1;
        else if (!strncmp(v, "ID_", 3)) k = 1, v += 3;
        else if (!strncmp(v, "LIMIT_", 6)) k = 2, v += 6;
        else continue;
        char *end;
        size_t i = strtoul(v, &end, 10);
        if (*end != '=' || i >= n) continue;
        const char **f = k == 0 ? &sl[i].fd : k == 1 ? &sl[i].id : &sl[i].limit;
        *f = end + 1;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    /* "No limit" as the C tool sends it: now (TAI64, +37 s) + 2^61 s. */
    uint64_t nolimit = 0x4000000000000000ULL + 37 + (uint64_t)now.tv_sec + (1ULL << 61);
    int s = connect_to(argv[1]);
    if (s < 0) return 111;
    if (!n) return 0;
    if (setdump_start(s, n)) return 1;
    unsigned char *buf = malloc(1 + MAXFDS * (14 + 255));
    int fds[MAXFDS];
    for (size_t i = 0; i < n;) {
        size_t len = 1, b = 0;
        buf[0] = '.';
        for (; b < MAXFDS && i < n; b++, i++) {
            if (!sl[i].fd || !sl[i].id) return 100;
            fds[b] = atoi(sl[i].fd);
            uint64_t sec = nolimit, ns = 0;
            if (sl[i].limit) { sec = hex(sl[i].limit + 1, 16); ns = hex(sl[i].limit + 17, 8); }
            len = put_entry(buf, len, sec, ns + i, sl[i].id);
        }
        if (setdump_batch(s, buf, len, fds, b, i == n)) return 1;
    }
    return 0;
}
