#!/usr/bin/python3
"""rpc_client.py - bnnaccd's protocol version 2 (JSON-RPC 2.0) from a
generic client written from docs/protocol.md, against a running daemon
(bnnaccd --sim in tests/host/daemon-sim.sh).

usage: rpc_client.py SOCKET MODEL-FILE

Checks every method's framing, each JSON-RPC error class (parse error,
invalid params, method not found, the server's own codes), notifications
(no reply), progress notifications during `load`, and version negotiation.
Prints one line per check; exits 1 at the first failure.
"""
import base64
import json
import socket
import sys


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.f = self.s.makefile("rw")

    def send(self, obj):
        self.f.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")
        self.f.flush()

    def recv(self):
        line = self.f.readline()
        if not line:
            raise EOFError("connection closed")
        return json.loads(line)

    def call(self, method, params=None, id_=1, notes=None):
        req = {"jsonrpc": "2.0", "method": method, "id": id_}
        if params is not None:
            req["params"] = params
        self.send(req)
        while True:
            msg = self.recv()
            if "method" in msg and "id" not in msg:     # a notification
                if notes is not None:
                    notes.append(msg)
                continue
            return msg


def check(cond, what):
    if not cond:
        print("rpc: FAIL: " + what)
        sys.exit(1)
    print("rpc: ok: " + what)


def main(argv):
    path, model = argv[1], argv[2]
    c = Conn(path)
    r = c.call("status", id_="s0")
    check(r.get("jsonrpc") == "2.0" and r["id"] == "s0" and r["error"]["code"] == -32003
          and r["error"]["data"]["code"] == "handshake", "a request before hello: -32003 handshake")
    r = c.call("hello", {"version": 2}, id_=0)
    check(r["result"]["version"] == 2 and r["result"]["server"] == "bnnaccd", "hello negotiates version 2")
    for m in ("status", "cards", "models", "stats", "metrics"):
        r = c.call(m, id_=m)
        check(r["id"] == m and "result" in r and "error" not in r, m + ": a result")
    r = c.call("frobnicate", id_=5)
    check(r["error"]["code"] == -32601 and r["error"]["data"]["code"] == "unknown_op",
          "unknown method: -32601")
    r = c.call("infer", {"inputs": "x"}, id_=6)
    check(r["error"]["code"] == -32602 and r["error"]["data"]["code"] == "bad_request",
          "bad params: -32602")
    c.send({"jsonrpc": "2.0", "method": "infer", "params": [1, 2], "id": 7})
    r = c.recv()
    check(r["id"] == 7 and r["error"]["code"] == -32602, "params by position: -32602")
    c.send("{not json")
    r = c.recv()
    check(r["id"] is None and r["error"]["code"] == -32700, "parse error: -32700, id null")
    c.send({"jsonrpc": "2.0", "method": "status"})          # a notification: no reply
    r = c.call("stats", id_=9)
    check(r["id"] == 9, "a notification gets no reply")
    notes = []
    data = base64.b64encode(open(model, "rb").read()).decode()
    r = c.call("load", {"name": "rpcmodel", "data": data}, id_="L", notes=notes)
    check("result" in r and r["result"]["name"] == "rpcmodel", "load: a result")
    cards = r["result"]["cards"]
    check(all(x["ok"] and "transfer" in x and x["transfer"]["m"] >= 1 for x in cards),
          "load: every card's transfer report (M %s)" % [x["m"] for x in cards])
    stages = [(n["params"]["card"], n["params"]["stage"]) for n in notes
              if n["method"] == "progress" and n["params"]["id"] == "L"]
    check(len(stages) >= 2 * len(cards) and all(s[1] == "done" for s in stages[-len(cards):]) and
          any(s[1] in ("calibrating", "programming") for s in stages),
          "load: progress notifications %s" % stages)
    check(notes[-1]["params"]["cards_done"] == notes[-1]["params"]["cards"],
          "load: the last progress counts every card done")
    r = c.call("infer", {"inputs": [[0.1, 0.2], [1.0, -1.0]], "samples": 4}, id_=10)
    res = r["result"]
    check(res["n"] == 2 and res["m"] == 4 and len(res["mean"]) == 2 and len(res["u_e"]) == 2,
          "infer: a result of 2 inputs on 4 networks")
    r = c.call("unload", {"name": "nosuch"}, id_=11)
    check(r["error"]["code"] == -32007 and r["error"]["data"]["code"] == "no_model",
          "server error code: no_model -32007")
    c2 = Conn(path)
    r = c2.call("hello", {"version": 3}, id_=1)
    check(r["error"]["code"] == -32002 and r["error"]["data"]["versions"] == [1, 2],
          "hello version 3: -32002 with the versions spoken")
    c3 = Conn(path)
    c3.send({"op": "hello", "version": 1})
    r = c3.recv()
    check(r.get("ok") is True and r["version"] == 1 and "jsonrpc" not in r,
          "version 1 framing still spoken")
    print("rpc: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
