# A second real consumer: a server on python3-systemd's systemd.daemon, which reads
# LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES the way every sd_listen_fds program does.
# For each connection, it reads one message and answers "NAME PID MESSAGE". On SIGTERM it
# finishes the connection it is serving, if any, and exits, as a well-behaved service does:
# the connections still in the backlog stay there, in the socket the fd-holder holds.
import os
import selectors
import signal
import socket
import sys

from systemd import daemon

named = daemon.listen_fds_with_names()
if not named:
    sys.exit("named_server: no fds passed")
busy = False
stop = False


def term(*_):
    global stop
    stop = True
    if not busy:
        sys.exit(0)


signal.signal(signal.SIGTERM, term)
sel = selectors.DefaultSelector()
for fd, name in sorted(named.items()):
    sel.register(socket.socket(fileno=fd), selectors.EVENT_READ, name)
while True:
    for key, _ in sel.select():
        busy = True
        conn, _ = key.fileobj.accept()
        with conn:
            message = conn.recv(1024).decode()
            conn.sendall(("%s %d %s" % (key.data, os.getpid(), message)).encode())
        busy = False
        if stop:
            sys.exit(0)
