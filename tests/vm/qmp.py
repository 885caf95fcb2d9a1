#!/usr/bin/python3
"""qmp.py - send QMP commands to a VM of the bench.

usage: qmp.py SOCKET COMMAND [JSON-ARGS] [COMMAND [JSON-ARGS] ...]
  e.g. qmp.py /tmp/q.sock qom-set '{"path":"card0","property":"fault-hang","value":1}'

Waits up to 30 s for the socket. Prints each command's "return" value as JSON;
exits 1 on a QMP error (printing its description), 2 on a connection failure.
"""
import json
import socket
import sys
import time


def connect(path, wait=30.0):
    end = time.time() + wait
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.1)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        sock = connect(argv[1])
    except OSError as e:
        print(f"qmp: cannot connect to {argv[1]}: {e}", file=sys.stderr)
        return 2
    f = sock.makefile("rw")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise EOFError("QMP socket closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    reply()  # greeting
    f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    f.flush()
    reply()
    args = argv[2:]
    rc = 0
    while args:
        cmd = {"execute": args.pop(0)}
        if args and args[0].startswith("{"):
            cmd["arguments"] = json.loads(args.pop(0))
        f.write(json.dumps(cmd) + "\n")
        f.flush()
        msg = reply()
        if "error" in msg:
            print(f"qmp: {cmd['execute']}: {msg['error'].get('desc')}",
                  file=sys.stderr)
            rc = 1
        else:
            print(json.dumps(msg.get("return")))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
