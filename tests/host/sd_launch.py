#!/usr/bin/python3
"""sd_launch.py - start a program the way systemd starts a socket-activated,
Type=notify service with a watchdog, for tests without systemd.

usage: sd_launch.py SOCKET NOTIFY-LOG WATCHDOG-USEC -- PROGRAM [ARGS...]

Binds and listens on the Unix stream socket SOCKET and passes it as fd 3
($LISTEN_FDS=1, $LISTEN_PID = the program's pid); receives the program's
sd_notify datagrams on $NOTIFY_SOCKET and appends each to NOTIFY-LOG, one
per line; sets $WATCHDOG_USEC. SIGTERM and SIGINT are passed on to the
program. Exits with the program's status when it exits.
"""
import os
import signal
import socket
import sys


def main(argv):
    if len(argv) < 6 or argv[4] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    path, log, wd, prog = argv[1], argv[2], argv[3], argv[5:]
    lis = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    lis.bind(path)
    lis.listen(128)
    npath = path + ".notify"
    if os.path.exists(npath):
        os.unlink(npath)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(npath)
    pid = os.fork()
    if pid == 0:
        os.dup2(lis.fileno(), 3)
        os.set_inheritable(3, True)
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()),
                   NOTIFY_SOCKET=npath, WATCHDOG_USEC=wd)
        os.execvpe(prog[0], prog, env)
    lis.close()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: os.kill(pid, s))
    notify.settimeout(0.2)
    with open(log, "a", buffering=1) as f:
        while True:
            try:
                msg = notify.recv(4096)
                f.write(msg.decode(errors="replace").replace("\n", " ") + "\n")
            except socket.timeout:
                pass
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                os.unlink(npath)
                return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
