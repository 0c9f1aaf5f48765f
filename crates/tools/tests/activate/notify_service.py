#!/usr/bin/python3
"""A service written for systemd's sd_notify, run by the notify tests through
s6-fdholder-activate under a real s6-supervise.

    notify_service.py REPORT MODE FIFO

It appends to REPORT one JSON line of what it was handed (LISTEN_FDNAMES, LISTEN_PID, each
fd's inode and, for a memfd, its content), then by MODE:
  store   on a first start (no fds handed), makes a memfd and a listening socket, stores
          them (FDSTORE=1, names "mem" and "sock"; the memfd twice), reports their inodes;
          then READY=1
  remove  as store, then FDSTOREREMOVE=1 for "mem", then READY=1
  child   a child process sends READY=1 (not the service: it must not count), then the
          service writes "child done" to FIFO and never says READY=1
  raw     hand-made datagrams: garbage, a bad FDNAME, STATUS=, an unknown key, then
          READY=1
and waits to be stopped. On a first start (no fds handed), it writes a line to FIFO
first, "started" ("child done" in child mode): the test then knows s6-supervise is up.
"""
import json
import os
import signal
import socket
import subprocess
import sys

import systemd.daemon

report, mode = sys.argv[1], sys.argv[2]
n = int(os.environ.get("LISTEN_FDS", "0"))
fds = []
for fd in range(3, 3 + n):
    entry = {"fd": fd, "inode": os.fstat(fd).st_ino}
    try:
        entry["content"] = os.pread(fd, 64, 0).decode()
    except OSError:
        pass
    fds.append(entry)


def write(record):
    with open(report, "a") as f:
        f.write(json.dumps(record) + "\n")


write({"pid": os.getpid(), "listen_pid": os.environ.get("LISTEN_PID"),
       "names": os.environ.get("LISTEN_FDNAMES", ""), "fds": fds,
       "notify_socket": os.environ.get("NOTIFY_SOCKET", "")})


def send_raw(payload):
    address = os.environ["NOTIFY_SOCKET"]
    if address.startswith("@"):
        address = "\0" + address[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(payload, address)
    s.close()


if n == 0 and mode != "child":
    with open(sys.argv[3], "w") as f:
        f.write("started\n")

if mode in ("store", "remove") and n == 0:
    mem = os.memfd_create("kept")
    os.write(mem, b"kept across restarts")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind("\0s6-fdholder-notify-test-%d" % os.getpid())
    sock.listen(8)
    write({"stored": {"mem": os.fstat(mem).st_ino, "sock": os.fstat(sock.fileno()).st_ino}})
    systemd.daemon.notify("FDSTORE=1\nFDNAME=mem", fds=[mem])
    systemd.daemon.notify("FDSTORE=1\nFDNAME=sock\nFDPOLL=0", fds=[sock.fileno()])
    # The same fd again: systemd keeps one entry per fd, and so does the store.
    systemd.daemon.notify("FDSTORE=1\nFDNAME=mem", fds=[mem])
    if mode == "remove":
        systemd.daemon.notify("FDSTOREREMOVE=1\nFDNAME=mem")
    systemd.daemon.notify("STATUS=up\nREADY=1")
elif mode in ("store", "remove"):
    systemd.daemon.notify("READY=1")
elif mode == "child":
    subprocess.run(["/usr/bin/python3", "-c",
                    "import systemd.daemon; systemd.daemon.notify('READY=1')"], check=True)
    with open(sys.argv[3], "w") as f:
        f.write("child done\n")
    systemd.daemon.notify("STATUS=waiting")
elif mode == "raw":
    send_raw(b"this is not an assignment\n")
    send_raw(b"FDSTORE=1\nFDNAME=a:b\n")
    send_raw(b"\xff\xfe")
    send_raw(b"STATUS=fine\nMAINPID=1\nWATCHDOG=1\nRELOADING=1\nX_UNKNOWN=1\n")
    send_raw(b"READY=1\n")

while True:
    signal.pause()
