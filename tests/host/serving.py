#!/usr/bin/env python3
"""serving.py - bnnaccd's serving features against `bnnaccd --sim` (JSON-RPC 2.0).

usage: serving.py BNNACCD STATE_DIR MOONS.bnnm POINTS.txt TOY.bnnm WIDE.bnnm

Starts its own daemon (one simulated card, seed 11) on a socket in STATE_DIR
and checks, asserting what could fail:
  * two resident models: a model loaded with "add" beside another (each with
    its own M), both answer, each named in its replies, `models` lists both;
    a model that does not fit beside them fails and changes neither; both
    come back after SIGKILL and a restart, with their M;
  * a model passed as a file descriptor (SCM_RIGHTS) loads, also one larger
    than a request line (1 MiB); "fd": true without a descriptor fails;
  * abstention: "abstain" marks exactly the inputs whose u_e is above it;
  * adaptive sampling on the demo grid (the moons model's 60 x 60 grid plus
    its test points): with "precision" the answers use fewer networks than
    M; the card time saved is measured from the card's busy time, and the
    fidelity against a full-M answer is compared with the noise floor (a
    second full-M answer). Prints BENCH lines.
"""
import array
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple


class Rpc:
    """A blocking JSON-RPC 2.0 client of bnnaccd (version 2)."""

    def __init__(self, path: str) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""
        self.id = 0
        r = self.call("hello", {"version": 2})
        assert r["version"] == 2, r

    def close(self) -> None:
        self.s.close()

    def _line(self) -> Dict[str, Any]:
        while b"\n" not in self.buf:
            got = self.s.recv(1 << 20)
            if not got:
                raise ConnectionError("bnnaccd closed the connection")
            self.buf += got
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, method: str, params: Dict[str, Any],
                fds: Optional[List[int]] = None) -> Dict[str, Any]:
        """The whole reply (result or error), notifications skipped."""
        self.id += 1
        line = (json.dumps({"jsonrpc": "2.0", "method": method, "params": params,
                            "id": self.id}) + "\n").encode()
        if fds:
            socket.send_fds(self.s, [line], fds)
        else:
            self.s.sendall(line)
        while True:
            r = self._line()
            if r.get("id") == self.id:
                return r

    def call(self, method: str, params: Dict[str, Any],
             fds: Optional[List[int]] = None) -> Dict[str, Any]:
        r = self.request(method, params, fds)
        if "error" in r:
            raise RuntimeError(f"{method}: {r['error']}")
        return r["result"]


def ok(what: str) -> None:
    print(f"serving: ok: {what}")


class Daemon:
    def __init__(self, exe: str, state: str) -> None:
        self.exe, self.state = exe, state
        self.sock = os.path.join(state, "sock")
        self.p: Optional[subprocess.Popen] = None

    def start(self) -> None:
        log = open(os.path.join(self.state, "d.log"), "ab")
        self.p = subprocess.Popen([self.exe, "-f", "--sim=11", "-s", self.sock, "-d",
                                   os.path.join(self.state, "state")],
                                  stdout=subprocess.DEVNULL, stderr=log)
        for _ in range(200):
            try:
                Rpc(self.sock).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("serving: bnnaccd did not come up")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.p
        self.p.send_signal(sig)
        self.p.wait(timeout=60)
        self.p = None


def models(c: Rpc) -> Dict[str, Dict[str, Any]]:
    return {m["name"]: m for m in c.call("models", {})["models"]}


def wait_serving(c: Rpc, names: List[str]) -> Dict[str, Dict[str, Any]]:
    for _ in range(400):
        ms = models(c)
        if all(n in ms and ms[n]["cards"] == 1 for n in names):
            return ms
        time.sleep(0.05)
    raise AssertionError(f"not serving {names}: {models(c)}")


def load_fd(c: Rpc, name: str, path: str, **extra: Any) -> Dict[str, Any]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return c.request("load", {"name": name, "fd": True, **extra}, [fd])
    finally:
        os.close(fd)


def points(path: str) -> List[List[float]]:
    with open(path, encoding="utf-8") as f:
        n, _ = map(int, f.readline().split())
        return [list(map(float, f.readline().split())) for _ in range(n)]


def card_busy(c: Rpc) -> float:
    return float(c.call("cards", {})["cards"][0]["busy_s"])


def infer_all(c: Rpc, model: str, xs: List[List[float]],
              **extra: Any) -> Tuple[List[List[float]], List[float], List[int], float]:
    """mean, u_e and networks used of every input, and the card time taken."""
    mean: List[List[float]] = []
    ue: List[float] = []
    used: List[int] = []
    b0 = card_busy(c)
    for i in range(0, len(xs), 50):
        chunk = xs[i:i + 50]
        r = c.call("infer", {"name": model, "inputs": chunk, **extra})
        mean += r["mean"]
        ue += r["u_e"]
        used += r["m_used"] if "m_used" in r else [r["m"]] * len(chunk)
    return mean, ue, used, card_busy(c) - b0


def compare(a: List[List[float]], b: List[List[float]]) -> Tuple[float, float, float]:
    """decision agreement, mean and max |p_a - p_b| over classes and inputs."""
    agree = sum(max(range(len(x)), key=x.__getitem__) == max(range(len(y)), key=y.__getitem__)
                for x, y in zip(a, b)) / len(a)
    d = [abs(p - q) for x, y in zip(a, b) for p, q in zip(x, y)]
    return agree, sum(d) / len(d), max(d)


def code_of(r: Dict[str, Any]) -> Tuple[int, str]:
    assert "error" in r, r
    return r["error"]["code"], r["error"]["data"]["code"]


def error_codes(c: Rpc, d: Daemon, xs: List[List[float]], moons: str) -> None:
    """The server error codes the other checks do not reach, each provoked."""
    # busy: a ninth resident model
    c.call("load", {"name": "moons", "path": os.path.abspath(moons), "m": 8})
    for i in range(7):
        c.call("load", {"name": f"m{i}", "path": os.path.abspath(moons), "m": 1, "add": True})
    assert len(models(c)) == 8, models(c)
    r = c.request("load", {"name": "ninth", "path": os.path.abspath(moons), "m": 1, "add": True})
    assert code_of(r) == (-32005, "busy") and "unload one first" in r["error"]["message"], r
    ok("a ninth model: -32005 busy, " + r["error"]["message"][:50])
    # deadline: a request queued behind a long batch of another client
    c2 = Rpc(d.sock)
    c2.s.sendall((json.dumps({"jsonrpc": "2.0", "method": "infer", "id": "big", "params": {
        "name": "moons", "inputs": xs[:4000]}}) + "\n").encode())
    time.sleep(0.02)
    r = c.request("infer", {"name": "moons", "inputs": xs[:1], "deadline_ms": 1})
    assert code_of(r) == (-32006, "deadline") or "result" in r, r
    got = "result" not in r
    assert c2._line()["id"] == "big"
    c2.close()
    ok("deadline_ms 1 behind a 4000-input batch: " + ("-32006 deadline" if got else
                                                    "answered in time (not provoked)"))
    # too_large: a line over 1 MiB, then the connection still serves
    c.s.sendall(b'{"jsonrpc":"2.0","method":"status","id":"x","params":{"pad":"' +
                b"a" * (1 << 20) + b'"}}\n')
    r = c._line()
    assert r["error"]["data"]["code"] == "too_large", r
    assert "result" in c.request("status", {})
    ok(f"a line over 1 MiB: {r['error']['code']} too_large, then the connection serves")
    # perm: a client of another uid, not in the admin group
    os.chmod(d.sock, 0o666)
    for sub in (os.path.dirname(d.sock), os.path.dirname(os.path.dirname(d.sock))):
        os.chmod(sub, 0o711)  # temporary directories of the test: traversable
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)
            u = Rpc(d.sock)
            r = u.request("unload", {"name": "m0"})
            os._exit(0 if code_of(r) == (-32004, "permission") else 1)
        except BaseException as e:  # pylint: disable=broad-except
            print(f"serving: the unprivileged client: {e!r}", file=sys.stderr)
            os._exit(2)
    assert os.waitpid(pid, 0)[1] == 0, "an unprivileged unload was not refused"
    ok("unload from uid 65534: -32004 permission")
    # shutdown: requests on a connection still open while the daemon drains
    c2 = Rpc(d.sock)
    c2.s.sendall((json.dumps({"jsonrpc": "2.0", "method": "infer", "id": "long", "params": {
        "name": "moons", "inputs": xs[:4000]}}) + "\n").encode())
    time.sleep(0.05)
    assert d.p
    d.p.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    r = c.request("infer", {"name": "moons", "inputs": xs[:1]})
    assert code_of(r) == (-32011, "shutdown"), r
    assert "result" in c2._line(), "the request in flight at SIGTERM was not answered"
    ok(f"infer during the drain: {r['error']['code']} shutdown; the one in flight answered")
    c.close()
    c2.close()
    d.p.wait(timeout=60)
    d.p = None


def main() -> int:
    exe, state, moons, pts, toy, wide = sys.argv[1:7]
    d = Daemon(exe, state)
    d.start()
    c = Rpc(d.sock)

    # ---- two resident models ------------------------------------------------
    r = c.call("load", {"name": "moons", "path": os.path.abspath(moons), "m": 20})
    assert r["cards"][0]["m"] == 20, r
    r = c.request("load", {"name": "toy", "path": os.path.abspath(toy), "m": 30, "add": True})
    assert "result" in r, r
    assert r["result"]["cards"][0]["m"] == 30, r
    held = {m["name"]: m["m"] for m in r["result"]["cards"][0]["models"]}
    assert held == {"moons": 20, "toy": 30}, held
    ms = wait_serving(c, ["moons", "toy"])
    assert ms["moons"]["m"] == 20 and ms["toy"]["m"] == 30, ms
    assert ms["toy"]["default"] and not ms["moons"]["default"], ms
    tiles = r["result"]["cards"][0]["transfer"]["tiles"]
    assert len(tiles) == 30, len(tiles)
    ok("toy (M=30) loaded beside moons (M=20); models lists both")
    a = c.call("infer", {"name": "moons", "inputs": [[0.0, 0.5], [1.0, -0.5]]})
    b = c.call("infer", {"inputs": [[0.1, 0.2]]})
    assert a["model"] == "moons" and a["m"] == 20 and len(a["mean"][0]) == 2, a
    assert b["model"] == "toy" and b["m"] == 30 and len(b["mean"][0]) == 3, b
    e = c.request("infer", {"name": "nope", "inputs": [[0.0, 0.0]]})
    assert e["error"]["data"]["code"] == "no_model", e
    ok("each model answers by name (the default: toy, loaded last); an unknown name: no_model")
    # a model that does not fit beside them changes neither
    e = c.request("load", {"name": "wide", "path": os.path.abspath(wide), "add": True})
    assert "error" in e and e["error"]["data"]["code"] == "card", e
    assert "the models moons, toy keep serving" in e["error"]["message"], e
    ms = wait_serving(c, ["moons", "toy"])
    assert set(ms) == {"moons", "toy"}, ms
    a2 = c.call("infer", {"name": "moons", "inputs": [[0.0, 0.5], [1.0, -0.5]]})
    assert a2["m"] == 20, a2
    ok("a model too wide to fit beside them fails; both keep serving: " + e["error"]["message"][:80])
    # too many networks beside them: nothing changes either
    e = c.request("load", {"name": "toy3", "path": os.path.abspath(toy), "m": 1000, "add": True})
    assert "error" in e, e
    assert set(wait_serving(c, ["moons", "toy"])) == {"moons", "toy"}
    ok("m=1000 beside them fails; both keep serving")
    c.close()
    d.stop(signal.SIGKILL)
    d.start()
    c = Rpc(d.sock)
    ms = wait_serving(c, ["moons", "toy"])
    assert ms["moons"]["m"] == 20 and ms["toy"]["m"] == 30 and ms["toy"]["default"], ms
    ok("after SIGKILL and a restart: moons (M=20) and toy (M=30) again, toy the default")
    c.call("unload", {"name": "toy"})
    ms = wait_serving(c, ["moons"])
    assert set(ms) == {"moons"}, ms
    assert c.call("infer", {"inputs": [[0.0, 0.5]]})["model"] == "moons"
    ok("unload toy: moons alone, the default again")

    # ---- a model by file descriptor ----------------------------------------
    r = load_fd(c, "toyfd", toy, add=True, m=20)
    assert "result" in r and r["result"]["cards"][0]["m"] == 20, r
    ok("a model passed as a descriptor (SCM_RIGHTS) loads")
    big = os.path.join(state, "big.bnnm")
    subprocess.run([os.path.join(os.path.dirname(exe), "..", "guest", "d_fault"), "model",
                    big, "gauss", "2", "500", "500", "3"], check=True, stdout=subprocess.DEVNULL)
    size = os.path.getsize(big)
    assert size > (1 << 20), size
    r = load_fd(c, "big", big, add=True)
    # it may not fit beside the others; it must have been read and parsed
    if "error" in r:
        assert r["error"]["data"]["code"] == "card", r
        assert "keep serving" in r["error"]["message"], r
    else:
        assert r["result"]["name"] == "big", r
    ok(f"a {size}-byte model (over the 1 MiB line) passed as a descriptor is read: "
       + ("loaded" if "result" in r else "does not fit: " + r["error"]["message"][:60]))
    e = c.request("load", {"name": "nofd", "fd": True})
    assert e["error"]["data"]["code"] == "bad_model" and "no descriptor" in e["error"]["message"], e
    ok("\"fd\": true without a descriptor: bad_model, " + e["error"]["message"][:60])
    r = c.request("status", {}, [os.open(toy, os.O_RDONLY)])
    assert "result" in r, r
    ok("a descriptor sent with another request is closed, the request served")
    for n in ("toyfd", "big"):
        if n in models(c):
            c.call("unload", {"name": n})

    # ---- abstention ---------------------------------------------------------
    xs = points(pts)
    r = c.call("infer", {"name": "moons", "inputs": xs[:200], "abstain": 0.05})
    assert len(r["abstain"]) == 200, r
    assert all(ab == (ue > 0.05) for ab, ue in zip(r["abstain"], r["u_e"])), r
    na = sum(r["abstain"])
    assert 0 < na < 200, na
    assert "abstain" not in c.call("infer", {"name": "moons", "inputs": xs[:2]})
    ok(f"abstain 0.05 nats: {na} of 200 grid points marked, exactly those with u_e above it")

    # ---- adaptive sampling on the demo grid --------------------------------
    M = models(c)["moons"]["m"]
    c.call("unload", {"name": "moons"})
    c.call("load", {"name": "moons", "path": os.path.abspath(moons)})
    M = wait_serving(c, ["moons"])["moons"]["m"]
    full_a, ue_a, _, t_full = infer_all(c, "moons", xs)
    full_b, ue_b, _, t_full_b = infer_all(c, "moons", xs)
    eps = 0.02
    ad, ue_ad, used, t_ad = infer_all(c, "moons", xs, precision=eps)
    m_mean = sum(used) / len(used)
    floor = compare(full_b, full_a)
    got = compare(ad, full_a)
    due_floor = sum(abs(x - y) for x, y in zip(ue_b, ue_a)) / len(xs)
    due = sum(abs(x - y) for x, y in zip(ue_ad, ue_a)) / len(xs)
    print(f"BENCH adaptive_networks_mean {m_mean:.1f} networks")
    print(f"BENCH adaptive_networks_full {M} networks")
    print(f"BENCH adaptive_card_time_ratio {t_ad / t_full:.3f}")
    print(f"BENCH adaptive_agreement {got[0]:.4f}")
    print(f"BENCH full_vs_full_agreement {floor[0]:.4f}")
    print(f"BENCH adaptive_mean_abs_dp {got[1]:.4f}")
    print(f"BENCH full_vs_full_mean_abs_dp {floor[1]:.4f}")
    print(f"BENCH adaptive_max_abs_dp {got[2]:.4f}")
    print(f"BENCH full_vs_full_max_abs_dp {floor[2]:.4f}")
    print(f"BENCH adaptive_mean_abs_due {due:.4f} nats")
    print(f"BENCH full_vs_full_mean_abs_due {due_floor:.4f} nats")
    print(f"serving: card time on {len(xs)} inputs: full M {t_full:.3f} s, full M again "
          f"{t_full_b:.3f} s, precision {eps} {t_ad:.3f} s")
    assert M >= 32 and m_mean < M, (m_mean, M)
    assert min(used) >= 16, min(used)
    assert t_ad < t_full, (t_ad, t_full)
    ok(f"precision {eps}: {m_mean:.1f} networks of {M} on average, card time "
       f"{t_ad / t_full:.2f} of full M; decisions agree with full M on {got[0]:.4f} "
       f"(full M twice: {floor[0]:.4f})")
    error_codes(c, d, xs, moons)
    print("serving: PASS")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        subprocess.run(["pkill", "-9", "-f", "bnnaccd -f --sim=11 -s " + sys.argv[2]], check=False)
