#!/usr/bin/python3
"""qmp_latency.py - how long QEMU's monitor takes to answer while the card computes.

usage: qmp_latency.py SOCKET [CARD-ID]

Connects to the VM's QMP socket (waiting up to 60 s for it), then asks
qom-get CARD-ID.busy-ns every 10 ms until QEMU goes away. The card's BUSY
counter says whether it computed during an interval: an answer counts as
"under load" when busy-ns grew by at least half the time since the previous
answer. Prints, for the answers under load:
  BENCH qmp_under_load_samples <n>
  BENCH qmp_latency_p50_ms <v> ms
  BENCH qmp_latency_p99_ms <v> ms
  BENCH qmp_latency_max_ms <v> ms      (goal < 50)
"""
import json
import socket
import sys
import time


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    card = argv[2] if len(argv) > 2 else "card0"
    end = time.monotonic() + 60
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(argv[1])
            break
        except OSError:
            sock.close()
            if time.monotonic() > end:
                print("qmp_latency: no QMP socket", file=sys.stderr)
                return 2
            time.sleep(0.05)
    f = sock.makefile("rw")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise EOFError
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    lat = []
    try:
        reply()
        f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
        f.flush()
        reply()
        cmd = json.dumps({"execute": "qom-get",
                          "arguments": {"path": "/machine/peripheral/" + card,
                                        "property": "busy-ns"}}) + "\n"
        prev_t = prev_busy = None
        while True:
            t0 = time.monotonic()
            f.write(cmd)
            f.flush()
            msg = reply()
            t1 = time.monotonic()
            if "error" in msg:
                print("qmp_latency: " + msg["error"].get("desc", "error"),
                      file=sys.stderr)
                return 1
            busy = msg["return"]
            if prev_t is not None and busy - prev_busy >= 0.5 * (t1 - prev_t) * 1e9:
                lat.append(t1 - t0)
            prev_t, prev_busy = t1, busy
            time.sleep(0.01)
    except (EOFError, OSError, ValueError):
        pass
    lat.sort()
    print(f"BENCH qmp_under_load_samples {len(lat)}")
    if not lat:
        return 1
    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3
    print(f"BENCH qmp_latency_p50_ms {pct(0.5):.2f} ms")
    print(f"BENCH qmp_latency_p99_ms {pct(0.99):.2f} ms")
    print(f"BENCH qmp_latency_max_ms {lat[-1] * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
