/* What both floor programs share: the frame codec of s6-fdholderd's protocol, blocking,
 * with no more than the protocol needs (docs/PROTOCOL.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#define MAXFDS 253

static void put32(unsigned char *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }

/* Sends one frame: header (len, nfds) and payload, fds on the first sendmsg. */
static int send_frame(int s, const unsigned char *p, size_t len, const int *fds, int nfds)
{
    unsigned char h[6];
    put32(h, len); h[4] = nfds >> 8; h[5] = nfds;
    union { struct cmsghdr c; char b[CMSG_SPACE(sizeof(int) * MAXFDS)]; } u;
    struct iovec iov[2] = { { h, 6 }, { (void *)p, len } };
    struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
    if (nfds) {
        m.msg_control = u.b;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    size_t total = 6 + len, sent = 0;
    while (sent < total) {
        ssize_t r = sendmsg(s, &m, MSG_NOSIGNAL);
        if (r <= 0) return -1;
        sent += r;
        m.msg_control = 0; m.msg_controllen = 0;
        while (r > 0) {
            size_t k = (size_t)r < iov[0].iov_len ? (size_t)r : iov[0].iov_len;
            iov[0].iov_base = (char *)iov[0].iov_base + k; iov[0].iov_len -= k; r -= k;
            if (!iov[0].iov_len) { iov[0] = iov[1]; iov[1].iov_len = 0; m.msg_iovlen = 1; }
        }
    }
    return 0;
}

/* Reads one reply frame (no fds expected) and copies its payload to b; returns its length.
 * One read per reply in practice: replies are a few bytes and come one per request. */
static int recv_frame(int s, unsigned char *b, size_t cap)
{
    unsigned char f[6 + 64];
    size_t got = 0, want = 6;
    while (got < want) {
        ssize_t r = read(s, f + got, sizeof f - got);
        if (r <= 0) return -1;
        got += r;
        if (got >= 6) {
            size_t len = (size_t)f[0] << 24 | f[1] << 16 | f[2] << 8 | f[3];
            if (len > cap || len > sizeof f - 6) return -1;
            want = 6 + len;
        }
    }
    memcpy(b, f + 6, want - 6);
    return (int)(want - 6);
}

/* Connects to the daemon at path; -1 on failure. */
static int connect_to(const char *path)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) return -1;
    return s;
}

/* Opens a setdump of n fds: "!" n, answered by "\0" trips. */
static int setdump_start(int s, size_t n)
{
    unsigned char req[5] = { '!' }, rep[64];
    put32(req + 1, n);
    return send_frame(s, req, 5, 0, 0) || recv_frame(s, rep, sizeof rep) != 5 || rep[0] ? -1 : 0;
}

/* Appends one fd's "tain idlen id NUL" to buf at len; returns the new length. */
static size_t put_entry(unsigned char *buf, size_t len, uint64_t sec, uint64_t ns, const char *id)
{
    sec += ns / 1000000000; ns %= 1000000000;
    put32(buf + len, sec >> 32); put32(buf + len + 4, sec); put32(buf + len + 8, ns);
    size_t idlen = strlen(id);
    buf[len + 12] = idlen;
    memcpy(buf + len + 13, id, idlen);
    buf[len + 13 + idlen] = 0;
    return len + 14 + idlen;
}

/* Sends one data batch and checks its reply: EAGAIN while more is due, 0 after the last. */
static int setdump_batch(int s, const unsigned char *buf, size_t len, const int *fds, int nfds, int last)
{
    unsigned char rep[64];
    if (send_frame(s, buf, len, fds, nfds) || recv_frame(s, rep, sizeof rep) != 1) return -1;
    return rep[0] == (last ? 0 : 11) ? 0 : -1;
}
