# The probe s6-fdholder-activate execs in the tests: prints, as one JSON document, what a
# program started through it sees: its pid, the LISTEN_* variables, every open fd with its
# flags and, for sockets, the address it is bound to.
import fcntl
import json
import os
import socket

listed = sorted(int(n) for n in os.listdir("/proc/self/fd"))
fds = []
for fd in listed:
    try:
        fd_flags = fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        continue  # the fd os.listdir read the directory with, closed since
    entry = {
        "fd": fd,
        "cloexec": bool(fd_flags & fcntl.FD_CLOEXEC),
        "nonblock": bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK),
        "target": os.readlink("/proc/self/fd/%d" % fd),
    }
    if entry["target"].startswith("socket:"):
        s = socket.socket(fileno=os.dup(fd))
        addr = s.getsockname()
        entry["address"] = addr if isinstance(addr, str) else "%s:%d" % addr[:2]
        entry["listening"] = bool(s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
        s.close()
    fds.append(entry)
print(json.dumps({
    "pid": os.getpid(),
    "env": {k: os.environ.get(k) for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")},
    "fds": fds,
}))
