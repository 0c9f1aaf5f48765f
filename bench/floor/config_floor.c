/* The config-mode floor: the least a program must do to set up N unix stream sockets and
 * hand them to s6-fdholderd: socket + bind + listen each (DIR/1.sock .. DIR/N.sock), then
 * one setdump of them all with the ids config mode gives them ("unix:PATH") and "no limit"
 * moved i ns apart. No file to parse, no checks, no look at what the daemon holds. Not a
 * tool: a yardstick for bench/run.sh. Usage: config_floor SOCKET DIR N. Exit 0 on success. */
#include <stdio.h>
#include <time.h>
#include "floor.h"

int main(int argc, char **argv)
{
    if (argc < 4) return 100;
    size_t n = strtoul(argv[3], 0, 10);
    int *fds = malloc((n ? n : 1) * sizeof *fds);
    char **ids = malloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof a.sun_path, "%s/%zu.sock", argv[2], i + 1);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, SOMAXCONN) < 0) return 111;
        fds[i] = s;
        ids[i] = malloc(6 + strlen(a.sun_path));
        memcpy(ids[i], "unix:", 5);
        strcpy(ids[i] + 5, a.sun_path);
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t nolimit = 0x4000000000000000ULL + 37 + (uint64_t)now.tv_sec + (1ULL << 61);
    int s = connect_to(argv[1]);
    if (s < 0) return 111;
    if (!n) return 0;
    if (setdump_start(s, n)) return 1;
    unsigned char *buf = malloc(1 + MAXFDS * (14 + 255));
    for (size_t i = 0; i < n;) {
        size_t len = 1, b = 0, first = i;
        buf[0] = '.';
        for (; b < MAXFDS && i < n; b++, i++) len = put_entry(buf, len, nolimit, i, ids[i]);
        if (setdump_batch(s, buf, len, fds + first, b, i == n)) return 1;
    }
    return 0;
}
