#!/usr/bin/env python3
"""Load generator and fault injector of bench/soak/run.sh (Python 3 standard library only).

A scripted client of ours: it plays many SMTP senders at once against one EarlyPipeProxy process, and
bench/soak/faults.sh breaks the real MTAs behind it while the load runs. The MTAs are real (Postfix
behind the inbound listener, Exim behind the outbound listener); only the senders are this script.

  soak.py load   --inbound HOST:PORT --outbound HOST:PORT --proxy-pid PID --work DIR [options]
  soak.py verify --work DIR --postfix-maildir DIR --exim-maildir DIR --proxy-pid PID [--rss-limit-mib N]

load:
  * N messages (--messages), half through the inbound listener (to user@backend.test, delivered by
    Postfix), half through the outbound listener (to user@remote.test, delivered by Exim).
  * Inbound connections alternate between the early-pipelining flight (EHLO, MAIL, RCPT and BDAT with
    the body, or DATA, written before the banner; only once an earlier EHLO reply of the proxy offered
    PIPECONNECT) and a lockstep client (every command after the previous reply). Every --tls-every-th
    connection uses STARTTLS (early: EHLO, STARTTLS before the banner, then EHLO, MAIL, RCPT, BDAT/DATA in
    one flight after the handshake). 1-3 messages per connection; BDAT or DATA per message; some bodies
    are large (several BDAT chunks in lockstep).
  * Outbound connections are lockstep senders (DATA), some with STARTTLS to the proxy (SenderTls).
  * Every --abort-every-th connection ends with a message that is aborted: the client closes (FIN or RST)
    in the middle of DATA or of a BDAT chunk, never having sent the terminator. Its token is "aborted".
  * Faults (--faults, "NAME:FRACTION,..."; NAME is a faults.sh command) run when that fraction of the
    messages has been handed to the senders; the senders do not get past a fault's threshold before the
    fault has started, so every fault meets load.
  * A probe connects to each listener every second and waits at most 2 s for the first reply line.
  * The proxy's VmRSS (and threads, descriptors) is sampled every second.
  Files in --work: records.jsonl (one line per message), probes.jsonl, rss.jsonl, faults.jsonl.

verify: reads the maildirs, classifies every token and prints the summary table and SOAK_RESULT lines.
Exit status 1 when an invariant is violated.
"""

import argparse
import hashlib
import json
import os
import random
import re
import socket
import signal
import ssl
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class SmtpError(Exception):
    """The connection broke (closed, reset, timed out) before a complete reply."""


class Conn:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.tls = False

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise SmtpError(f"send: {e}") from e

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError) as e:
                raise SmtpError("timeout waiting for a reply") from e
            except OSError as e:
                raise SmtpError(f"recv: {e}") from e
            if not chunk:
                raise SmtpError("connection closed")
            self.buf += chunk

    def reply(self):
        lines = []
        while True:
            line = self._line()
            lines.append(line.decode("latin-1"))
            if len(line) < 3 or not line[:3].isdigit():
                raise SmtpError(f"malformed reply line {line[:80]!r}")
            if len(line) == 3 or line[3:4] == b" ":
                return int(line[:3]), "\n".join(lines)

    def starttls(self, ctx):
        if self.buf:
            raise SmtpError(f"{len(self.buf)} octets after the 220 to STARTTLS")
        try:
            self.sock = ctx.wrap_socket(self.sock, server_hostname="mx.earlypipe.test")
        except (OSError, ssl.SSLError) as e:
            raise SmtpError(f"TLS handshake: {e}") from e
        self.tls = True

    def abort(self, rst):
        try:
            if rst:
                raw = self.sock
                if isinstance(raw, ssl.SSLSocket):
                    # an RST under TLS: no close_notify, then the kernel's reset
                    raw = socket.socket(fileno=os.dup(raw.fileno()))
                    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    raw.close()
                else:
                    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ----------------------------------------------------------------------------------------------- plans
def make_message(token, rcpt, rng, big):
    """The message as it leaves the client before dot-stuffing, CRLF line ends."""
    lines = [
        f"X-Soak-Token: {token}",
        "From: soak sender <sender@soak-client.test>",
        f"To: <{rcpt}>",
        f"Subject: soak {token}",
        f"Message-ID: <{token}@soak.test>",
        "Date: Thu, 01 Jan 2026 00:00:00 +0000",
        "",
        f".dot-stuffed first line of {token}",
    ]
    n = rng.randint(2000, 3000) if big else rng.randint(1, 30)
    for i in range(n):
        lines.append(("." if i % 7 == 3 else "") + f"{token} line {i} " + "x" * rng.randint(0, 60))
    lines.append(f"end of {token}")
    return ("\r\n".join(lines) + "\r\n").encode()


def stuff(msg):
    out = msg.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    return out


def make_plans(args, direction, count, prefix, rng):
    """A list of connections; each a dict with its mode and its messages."""
    conns, made, ci = [], 0, 0
    while made < count:
        k = min(rng.randint(1, args.in_per_conn if direction == "in" else args.out_per_conn), count - made)
        mode = "early" if direction == "in" and ci % 2 == 0 else "lockstep"
        # every tls_every-th connection, as often early as lockstep (modes alternate with ci's parity)
        tls = ci % (2 * args.tls_every) in (1, args.tls_every if args.tls_every % 2 == 0 else args.tls_every + 1)
        abort = None
        # two aborts per abort_every connections, one on an even (early) and one on an odd (lockstep) connection
        n = args.abort_every
        if ci % n in ((n // 2) & ~1, n - 1 if (n - 1) % 2 else n - 2):
            if direction == "out":
                abort = "data"
            else:
                abort = "bdat" if ((ci // args.abort_every) + ci) % 2 else "data"
        msgs = []
        for j in range(k):
            made += 1
            token = f"{prefix}-{direction}-{made:06d}"
            rcpt = f"soak{made % 50}@backend.test" if direction == "in" else f"soak{made % 50}@remote.test"
            body = "data" if direction == "out" else rng.choice(["bdat", "data"])
            if abort and j == k - 1:
                body = abort
            msgs.append({
                "token": token, "rcpt": rcpt, "body": body, "big": rng.random() < args.big_fraction,
                "abort": bool(abort and j == k - 1), "seed": rng.getrandbits(32),
            })
        conns.append({"dir": direction, "mode": mode, "tls": tls, "rst": (ci // args.abort_every) % 2 == 0, "msgs": msgs, "n": ci})
        ci += 1
    return conns


# ------------------------------------------------------------------------------------------ the senders
class Soak:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Condition()
        self.records = []
        self.handed = 0            # messages handed to senders (both directions)
        self.total = 0
        self.fault_plan = []       # [(threshold_messages, name)]
        self.faults_started = 0
        self.gate_waiters = 0      # senders held back until the next fault has started
        self.records_file = None
        self.fault_at_seconds = None   # with --max-seconds: faults at fractions of the duration, senders never held
        self.start = time.time()
        self.handed_dir = {"in": 0, "out": 0}
        self.total_dir = {"in": 1, "out": 1}
        self.learned_pipeconnect = threading.Event()
        self.ehlo_lacks_keyword = 0
        self.protocol_errors = []
        self.stop = threading.Event()
        self.draining = threading.Event()   # SIGUSR1 or --max-seconds: no new connections, the load ends early
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    # --- hand-out with fault gating
    def take(self, queue):
        with self.lock:
            while True:
                if not queue or self.draining.is_set():
                    return None
                c = queue[0]   # read again after every wait: another sender may have taken it
                nxt = self.faults_started
                d, other = c["dir"], "out" if c["dir"] == "in" else "in"
                if (self.handed_dir[other] < self.total_dir[other]
                        and self.handed_dir[d] / self.total_dir[d] > self.handed_dir[other] / self.total_dir[other] + 0.01):
                    # both directions advance together, so every fault meets inbound and outbound load
                    self.lock.wait(0.5)
                    if self.stop.is_set():
                        return None
                    continue
                if nxt < len(self.fault_plan) and self.handed + len(c["msgs"]) > self.fault_plan[nxt][0]:
                    self.gate_waiters += 1
                    self.lock.notify_all()
                    self.lock.wait(0.5)
                    self.gate_waiters -= 1
                    if self.stop.is_set():
                        return None
                    continue
                break
            queue.pop(0)
            self.handed += len(c["msgs"])
            self.handed_dir[c["dir"]] += len(c["msgs"])
            self.lock.notify_all()
            return c

    def record(self, rec):
        with self.lock:
            self.records.append(rec)
            if self.records_file is not None:
                # written as they come: a run stopped half-way still leaves what it saw
                self.records_file.write(json.dumps(rec) + "\n")
                self.records_file.flush()

    # --- one connection
    def run_conn(self, c):
        a = self.args
        host, port = (a.inbound if c["dir"] == "in" else a.outbound)
        results = {m["token"]: None for m in c["msgs"]}
        mode = c["mode"]
        if mode == "early" and not self.learned_pipeconnect.is_set():
            mode = "lockstep"   # nothing cached yet: this connection learns the EHLO reply
        t0 = time.time()
        conn = None
        stage = "connect"
        sent_body = set()

        def outcome(m, kind, code=None, text=None, st=None):
            if results[m["token"]] is None:
                results[m["token"]] = (kind, code, text, st or stage)

        try:
            conn = Conn(host, port, a.timeout)
            msgs = c["msgs"]
            if mode == "early":
                self.early_session(conn, c, msgs, outcome, sent_body)
            else:
                self.lockstep_session(conn, c, msgs, outcome, sent_body)
        except SmtpError as e:
            for m in c["msgs"]:
                if results[m["token"]] is None:
                    kind = "noreply" if m["token"] in sent_body else "notsent"
                    results[m["token"]] = (kind, None, str(e), "io")
        except OSError as e:
            for m in c["msgs"]:
                if results[m["token"]] is None:
                    kind = "noreply" if m["token"] in sent_body else "notsent"
                    results[m["token"]] = (kind, None, f"{type(e).__name__}: {e}", "connect")
        finally:
            if conn is not None:
                conn.close()
        t1 = time.time()
        for m in c["msgs"]:
            kind, code, text, st = results[m["token"]] or ("notsent", None, "never reached", "")
            self.record({
                "token": m["token"], "dir": c["dir"], "mode": mode, "planned_mode": c["mode"], "tls": c["tls"],
                "body": m["body"], "big": m["big"], "abort": m["abort"], "outcome": kind, "code": code,
                "reply": (text or "")[:300], "stage": st, "t0": t0, "t1": t1, "sha": m.get("sha"),
            })

    def _msg_bytes(self, m):
        rng = random.Random(m["seed"])
        raw = make_message(m["token"], m["rcpt"], rng, m["big"])
        m["sha"] = hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()
        return raw

    def _cut(self, m, n):
        return random.Random(m["seed"] ^ 0x5A5A).randint(1, max(1, n - 1))

    def ehlo(self, conn, c):
        conn.send(b"EHLO soak-client.test\r\n")
        code, text = conn.reply()
        return code, text

    def check_keyword(self, text):
        caps = [ln[4:].split(" ")[0].upper() for ln in text.split("\n")]
        if "PIPECONNECT" in caps:
            self.learned_pipeconnect.set()
            return True
        return False

    def lockstep_session(self, conn, c, msgs, outcome, sent_body):
        code, text = conn.reply()
        if code != 220:
            for m in msgs:
                outcome(m, "tempfail" if code // 100 == 4 else "rejected", code, text, "banner")
            return
        code, text = self.ehlo(conn, c)
        if code != 250:
            for m in msgs:
                outcome(m, "failed-ehlo", code, text, "ehlo")
            return
        if c["dir"] == "in":
            if not self.check_keyword(text):
                with self.lock:
                    self.ehlo_lacks_keyword += 1
        if c["tls"]:
            conn.send(b"STARTTLS\r\n")
            code, text = conn.reply()
            if code != 220:
                for m in msgs:
                    outcome(m, "failed-starttls", code, text, "starttls")
                return
            conn.starttls(self.ctx)
            code, text = self.ehlo(conn, c)
            if code != 250:
                for m in msgs:
                    outcome(m, "failed-ehlo", code, text, "ehlo-tls")
                return
        for m in msgs:
            raw = self._msg_bytes(m)
            conn.send(b"MAIL FROM:<sender@soak-client.test>\r\n")
            code, text = conn.reply()
            if code != 250:
                outcome(m, "failed-mail", code, text, "mail")
                self.rset(conn)
                continue
            conn.send(f"RCPT TO:<{m['rcpt']}>\r\n".encode())
            code, text = conn.reply()
            if code // 100 != 2:
                outcome(m, "failed-rcpt", code, text, "rcpt")
                self.rset(conn)
                continue
            if m["body"] == "data":
                conn.send(b"DATA\r\n")
                code, text = conn.reply()
                if code != 354:
                    outcome(m, "failed-data", code, text, "data")
                    self.rset(conn)
                    continue
                wire = stuff(raw)
                if m["abort"]:
                    cut = self._cut(m, len(wire) + 1)
                    sent_body.add(m["token"])
                    conn.send(wire[:cut])
                    outcome(m, "aborted", None, f"closed after {cut} of {len(wire)} octets of DATA", "abort-data")
                    conn.abort(c["rst"])
                    return
                sent_body.add(m["token"])
                conn.send(wire + b".\r\n")
                code, text = conn.reply()
                self.end_of_data(m, code, text, outcome)
            else:
                # BDAT: large bodies in chunks of 16 KiB, the last with LAST
                chunks = [raw[i:i + 16384] for i in range(0, len(raw), 16384)] or [b""]
                failed = False
                for i, ch in enumerate(chunks):
                    last = i == len(chunks) - 1
                    head = f"BDAT {len(ch)}{' LAST' if last else ''}\r\n".encode()
                    sent_body.add(m["token"])
                    if m["abort"] and last:
                        cut = self._cut(m, len(ch))
                        conn.send(head + ch[:cut])
                        outcome(m, "aborted", None, f"closed after {cut} of {len(ch)} octets of BDAT {i + 1}", "abort-bdat")
                        conn.abort(c["rst"])
                        return
                    conn.send(head + ch)
                    code, text = conn.reply()
                    if last:
                        self.end_of_data(m, code, text, outcome)
                    elif code // 100 != 2:
                        self.end_of_data(m, code, text, outcome)
                        failed = True
                        break
                if failed:
                    self.rset(conn)
        self.quit(conn)

    def end_of_data(self, m, code, text, outcome):
        kind = {2: "ok", 4: "tempfail", 5: "rejected"}.get(code // 100, "odd")
        outcome(m, kind, code, text, "end-of-data")

    def rset(self, conn):
        conn.send(b"RSET\r\n")
        code, _ = conn.reply()
        if code != 250:
            raise SmtpError(f"RSET answered {code}")

    def quit(self, conn):
        try:
            conn.send(b"QUIT\r\n")
            conn.reply()
        except SmtpError:
            pass

    def early_session(self, conn, c, msgs, outcome, sent_body):
        """Exim's PIPECONNECT client: the first transaction in one flight before the banner."""
        first, rest = msgs[0], msgs[1:]
        flight = b"EHLO soak-client.test\r\n"
        if c["tls"]:
            flight += b"STARTTLS\r\n"
            conn.send(flight)
            replies = []
            for what in ("banner", "ehlo", "starttls"):
                code, text = conn.reply()
                replies.append((what, code, text))
                if what == "banner" and code != 220:
                    break
            bad = [r for r in replies if r[1] != {"banner": 220, "ehlo": 250, "starttls": 220}[r[0]]]
            if bad:
                for m in msgs:
                    kind = "tempfail" if bad[0][1] // 100 == 4 else "rejected"
                    outcome(m, kind, bad[0][1], bad[0][2], bad[0][0])
                return
            conn.starttls(self.ctx)
            flight = b"EHLO soak-client.test\r\n"
            expect_banner = False
        else:
            expect_banner = True
        raw = self._msg_bytes(first)
        flight += b"MAIL FROM:<sender@soak-client.test>\r\n" + f"RCPT TO:<{first['rcpt']}>\r\n".encode()
        if first["body"] == "bdat":
            sent_body.add(first["token"])
            if first["abort"]:
                cut = self._cut(first, len(raw))
                conn.send(flight + f"BDAT {len(raw)} LAST\r\n".encode() + raw[:cut])
                outcome(first, "aborted", None, f"closed after {cut} of {len(raw)} octets of BDAT in the early flight", "abort-bdat")
                time.sleep(random.random() * 0.05)
                conn.abort(c["rst"])
                return
            conn.send(flight + f"BDAT {len(raw)} LAST\r\n".encode() + raw)
        else:
            conn.send(flight + b"DATA\r\n")
        names = (["banner"] if expect_banner else []) + ["ehlo", "mail", "rcpt", first["body"]]
        got = {}
        for what in names:
            code, text = conn.reply()
            got[what] = (code, text)
            if what == "banner" and code != 220:
                for m in msgs:
                    outcome(m, "tempfail" if code // 100 == 4 else "rejected", code, text, "banner")
                return
        if got["ehlo"][0] != 250:
            for m in msgs:
                outcome(m, "failed-ehlo", *got["ehlo"], "ehlo")
            return
        if first["body"] == "bdat":
            code, text = got["bdat"]
            if got["mail"][0] != 250 or got["rcpt"][0] // 100 != 2:
                # the BDAT reply is the answer to the message (Postfix refuses it without a recipient)
                pass
            self.end_of_data(first, code, text, outcome)
            if code // 100 != 2:
                self.rset(conn)
        else:
            code, text = got["data"]
            if code != 354:
                outcome(first, "failed-data", code, text, "data")
                self.rset(conn)
            else:
                wire = stuff(raw)
                sent_body.add(first["token"])
                if first["abort"]:
                    cut = self._cut(first, len(wire) + 1)
                    conn.send(wire[:cut])
                    outcome(first, "aborted", None, f"closed after {cut} of {len(wire)} octets of DATA", "abort-data")
                    conn.abort(c["rst"])
                    return
                conn.send(wire + b".\r\n")
                code, text = conn.reply()
                self.end_of_data(first, code, text, outcome)
        # later transactions: RFC 2920 groups
        for m in rest:
            raw = self._msg_bytes(m)
            group = b"MAIL FROM:<sender@soak-client.test>\r\n" + f"RCPT TO:<{m['rcpt']}>\r\n".encode()
            if m["body"] == "bdat":
                sent_body.add(m["token"])
                if m["abort"]:
                    cut = self._cut(m, len(raw))
                    conn.send(group + f"BDAT {len(raw)} LAST\r\n".encode() + raw[:cut])
                    outcome(m, "aborted", None, f"closed after {cut} of {len(raw)} octets of a pipelined BDAT", "abort-bdat")
                    time.sleep(random.random() * 0.05)
                    conn.abort(c["rst"])
                    return
                conn.send(group + f"BDAT {len(raw)} LAST\r\n".encode() + raw)
                conn.reply()
                conn.reply()
                code, text = conn.reply()
                self.end_of_data(m, code, text, outcome)
                if code // 100 != 2:
                    self.rset(conn)
            else:
                conn.send(group + b"DATA\r\n")
                conn.reply()
                conn.reply()
                code, text = conn.reply()
                if code != 354:
                    outcome(m, "failed-data", code, text, "data")
                    self.rset(conn)
                    continue
                wire = stuff(raw)
                sent_body.add(m["token"])
                if m["abort"]:
                    cut = self._cut(m, len(wire) + 1)
                    conn.send(wire[:cut])
                    outcome(m, "aborted", None, f"closed after {cut} of {len(wire)} octets of DATA", "abort-data")
                    conn.abort(c["rst"])
                    return
                conn.send(wire + b".\r\n")
                code, text = conn.reply()
                self.end_of_data(m, code, text, outcome)
        self.quit(conn)

    def worker(self, queue):
        while not self.stop.is_set():
            c = self.take(queue)
            if c is None:
                return
            try:
                self.run_conn(c)
            except Exception as e:  # a bug of ours or a protocol surprise: keep going, report it
                with self.lock:
                    self.protocol_errors.append(f"{c['dir']} conn {c['n']}: {type(e).__name__}: {e}")
                for m in c["msgs"]:
                    self.record({"token": m["token"], "dir": c["dir"], "mode": c["mode"], "planned_mode": c["mode"],
                                 "tls": c["tls"], "body": m["body"], "big": m["big"], "abort": m["abort"],
                                 "outcome": "noreply" if not m["abort"] else "aborted", "code": None,
                                 "reply": f"generator error {e}", "stage": "error", "t0": time.time(),
                                 "t1": time.time(), "sha": m.get("sha")})
            # after a refused banner (backend down) do not spin
            with self.lock:
                last = self.records[-1] if self.records else None
            if last and last["stage"] in ("banner", "connect"):
                time.sleep(0.2)

    # --- faults, probes, RSS
    def fault_thread(self, fault_file):
        with open(fault_file, "w") as f:
            for i, (threshold, name) in enumerate(self.fault_plan):
                with self.lock:
                    while (not self.stop.is_set() and not self.all_handed() and not self.draining.is_set()
                           and (time.time() < self.start + self.fault_at_seconds[i] if self.fault_at_seconds
                                else self.handed < threshold and not self.gate_waiters)):
                        self.lock.wait(0.2)
                    if self.stop.is_set():
                        return
                    handed = self.handed
                t0 = time.time()
                t_active = None
                # faults.sh prints ACTIVE once the fault has taken effect (Postfix dead, Exim stopped): only then
                # do the senders get past this fault's threshold, so the fault meets load however slow the kill is
                p = subprocess.Popen(["bash", os.path.join(HERE, "faults.sh"), name], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
                lines = []
                for line in p.stdout:
                    lines.append(line)
                    if line.strip() == "ACTIVE" and t_active is None:
                        t_active = time.time()
                        with self.lock:
                            self.faults_started = i + 1
                            self.lock.notify_all()
                rc = p.wait()
                t1 = time.time()
                with self.lock:
                    self.faults_started = max(self.faults_started, i + 1)
                    self.lock.notify_all()
                    done = len(self.records)
                out_text = "".join(l for l in lines if l.strip() != "ACTIVE")
                f.write(json.dumps({"fault": name, "t0": t0, "t_active": t_active, "t1": t1, "rc": rc, "handed": handed,
                                    "threshold": threshold, "records_at_end": done, "out": out_text[-2000:]}) + "\n")
                f.flush()
                print(f"[soak] fault {name} at {handed} messages handed out: rc={rc} {t1 - t0:.1f}s "
                      f"{out_text.strip().splitlines()[-1] if out_text.strip() else ''}", file=sys.stderr)
                if rc != 0:
                    print(out_text, file=sys.stderr)

    def all_handed(self):
        return self.handed >= self.total

    def probe_thread(self, name, addr, out):
        while not self.stop.is_set():
            t0 = time.time()
            lat, code, err = None, None, None
            s = None
            try:
                s = socket.create_connection(addr, timeout=2.0)
                s.settimeout(max(0.01, 2.0 - (time.time() - t0)))
                buf = b""
                while b"\r\n" not in buf:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise SmtpError("closed before a reply")
                    buf += chunk
                    s.settimeout(max(0.01, 2.0 - (time.time() - t0)))
                lat = time.time() - t0
                code = int(buf[:3]) if buf[:3].isdigit() else -1
                try:
                    s.settimeout(2.0)
                    s.sendall(b"QUIT\r\n")
                    s.recv(4096)
                except OSError:
                    pass
            except (OSError, SmtpError) as e:
                err = f"{type(e).__name__}: {e}"
            finally:
                if s is not None:
                    s.close()
            with self.lock:
                out.append({"probe": name, "t": t0, "latency": lat, "code": code, "error": err})
            self.stop.wait(max(0.0, 1.0 - (time.time() - t0)))

    def rss_thread(self, pid, out):
        while not self.stop.is_set():
            out.append(sample_proc(pid))
            self.stop.wait(1.0)


def sample_proc(pid):
    s = {"t": time.time(), "rss_kib": None, "threads": None, "fds": None}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    s["rss_kib"] = int(line.split()[1])
                elif line.startswith("Threads:"):
                    s["threads"] = int(line.split()[1])
        s["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return s


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


def cmd_load(args):
    rng = random.Random(args.seed)
    soak = Soak(args)
    prefix = args.run_id
    n_in = args.messages // 2
    q_in = make_plans(args, "in", n_in, prefix, rng)
    q_out = make_plans(args, "out", args.messages - n_in, prefix, rng)
    soak.total = args.messages
    soak.total_dir = {"in": max(1, n_in), "out": max(1, args.messages - n_in)}
    for item in args.faults.split(","):
        item = item.strip()
        if not item:
            continue
        name, frac = item.split(":")
        soak.fault_plan.append((int(float(frac) * args.messages), name))
    soak.fault_plan.sort()
    if args.max_seconds:
        fracs = sorted(float(item.split(":")[1]) for item in args.faults.split(",") if item.strip())
        soak.fault_at_seconds = [f * args.max_seconds for f in fracs]
        soak.fault_plan = [(10 ** 12, name) for _, name in soak.fault_plan]   # no hand-out gate
    probes, rss = [], []
    w = args.work
    soak.records_file = open(os.path.join(w, "records.jsonl"), "w")
    aux = [
        threading.Thread(target=soak.probe_thread, args=("inbound", args.inbound, probes), daemon=True),
        threading.Thread(target=soak.probe_thread, args=("outbound", args.outbound, probes), daemon=True),
        threading.Thread(target=soak.rss_thread, args=(args.proxy_pid, rss), daemon=True),
    ]
    # the same probe straight to the MTAs, to tell a slow proxy from a slow MTA behind it
    if args.backend_probe:
        aux.append(threading.Thread(target=soak.probe_thread, args=("backend", args.backend_probe, probes), daemon=True))
    if args.remote_probe:
        aux.append(threading.Thread(target=soak.probe_thread, args=("remote", args.remote_probe, probes), daemon=True))
    for t in aux:
        t.start()
    ft = threading.Thread(target=soak.fault_thread, args=(os.path.join(w, "faults.jsonl"),), daemon=True)
    start = soak.start = time.time()
    ft.start()
    workers = [threading.Thread(target=soak.worker, args=(q_in,), daemon=True) for _ in range(args.in_concurrency)]
    workers += [threading.Thread(target=soak.worker, args=(q_out,), daemon=True) for _ in range(args.out_concurrency)]
    for t in workers:
        t.start()
    signal.signal(signal.SIGUSR1, lambda *_: soak.draining.set())
    last = 0
    while any(t.is_alive() for t in workers):
        time.sleep(1)
        if args.max_seconds and time.time() - start > args.max_seconds and not soak.draining.is_set():
            print(f"[soak] --max-seconds {args.max_seconds} reached: no new connections", file=sys.stderr)
            soak.draining.set()
        if time.time() - last >= 10:
            last = time.time()
            with soak.lock:
                n = len(soak.records)
            r = rss[-1]["rss_kib"] if rss else None
            print(f"[soak] {time.time() - start:6.0f}s {n}/{args.messages} messages done, proxy RSS {r} KiB, "
                  f"faults started {soak.faults_started}/{len(soak.fault_plan)}", file=sys.stderr)
    load_end = time.time()
    ft.join()   # a fault still running (e.g. a restart) finishes before the settle period
    # settle: probes and RSS go on for a few seconds after the load
    time.sleep(args.settle)
    soak.stop.set()
    for t in aux:
        t.join(5)
    end_sample = sample_proc(args.proxy_pid)
    soak.records_file.close()
    with open(os.path.join(w, "probes.jsonl"), "w") as f:
        for p in probes:
            f.write(json.dumps(p) + "\n")
    with open(os.path.join(w, "rss.jsonl"), "w") as f:
        for s in rss:
            f.write(json.dumps(s) + "\n")
    with open(os.path.join(w, "load.json"), "w") as f:
        json.dump({"start": start, "load_end": load_end, "messages": soak.handed, "planned": args.messages,
                   "ended_early": soak.draining.is_set(), "faults_started": soak.faults_started, "end_sample": end_sample,
                   "ehlo_lacks_keyword": soak.ehlo_lacks_keyword, "generator_errors": soak.protocol_errors,
                   "in_concurrency": args.in_concurrency, "out_concurrency": args.out_concurrency,
                   "faults_planned": len(soak.fault_plan), "run_id": args.run_id}, f)
    print(f"[soak] load done in {load_end - start:.1f}s: {len(soak.records)} records", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------- verify
TOKEN_RE = re.compile(rb"^X-Soak-Token: (\S+)", re.M)
ID_RE = re.compile(rb"\bid ([A-Za-z0-9][A-Za-z0-9-]+)")


def scan_maildir(path, run_id):
    """token -> list of (mta queue id, body ok sha) for every delivered file of this run."""
    found = {}
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            try:
                with open(os.path.join(d, name), "rb") as f:
                    data = f.read()
            except OSError:
                continue
            m = TOKEN_RE.search(data)
            if not m:
                continue
            token = m.group(1).decode()
            if not token.startswith(run_id + "-"):
                continue
            head = data[:m.start()]
            # the topmost Received: header is the final MTA's; its "id" is the queue id
            rec = re.search(rb"^Received:(.*(?:\n[ \t].*)*)", head, re.M)
            qid = None
            if rec:
                ids = ID_RE.findall(rec.group(1))
                qid = ids[0].decode() if ids else None
            found.setdefault(token, []).append((qid, hashlib.sha256(data[m.start():]).hexdigest(), name))
    return found


def cmd_verify(args):
    w = args.work
    load = json.load(open(os.path.join(w, "load.json")))
    run_id = load["run_id"]
    records = [json.loads(l) for l in open(os.path.join(w, "records.jsonl"))]
    probes = [json.loads(l) for l in open(os.path.join(w, "probes.jsonl"))]
    rss = [json.loads(l) for l in open(os.path.join(w, "rss.jsonl"))]
    faults = [json.loads(l) for l in open(os.path.join(w, "faults.jsonl"))] if os.path.exists(os.path.join(w, "faults.jsonl")) else []
    delivered = {}
    for md in (args.postfix_maildir, args.exim_maildir):
        for k, v in scan_maildir(md, run_id).items():
            delivered.setdefault(k, []).extend((md, *x) for x in v)

    by_token = {r["token"]: r for r in records}
    violations = []
    counts = {}
    lost, dup, aborted_delivered, rejected_delivered, corrupt, redelivered, notsent_delivered = [], [], [], [], [], [], []
    temp_delivered, noreply_delivered = 0, 0
    for r in records:
        key = (r["dir"], r["outcome"])
        counts[key] = counts.get(key, 0) + 1
        d = delivered.get(r["token"], [])
        qids = {x[1] for x in d}
        if len(d) > 1:
            if len(qids) > 1 or None in qids:
                dup.append(r["token"])
            else:
                redelivered.append(r["token"])   # one queue file delivered twice by the MTA itself
        if d and r.get("sha"):
            if any(x[2] != r["sha"] for x in d):
                corrupt.append(r["token"])
        o = r["outcome"]
        if o == "ok" and not d:
            lost.append(r["token"])
        elif o == "aborted" and d:
            aborted_delivered.append(r["token"])
        elif o in ("rejected", "failed-mail", "failed-rcpt", "failed-data", "failed-ehlo", "failed-starttls") and d:
            rejected_delivered.append(r["token"])
        elif o == "notsent" and d:
            notsent_delivered.append(r["token"])
        elif o == "tempfail" and d:
            temp_delivered += 1
        elif o == "noreply" and d:
            noreply_delivered += 1
    unknown = [t for t in delivered if t not in by_token]

    if lost:
        violations.append(f"{len(lost)} messages acknowledged 2xx were not delivered: {lost[:10]}")
    if dup:
        violations.append(f"{len(dup)} messages delivered more than once (distinct queue ids): {dup[:10]}")
    if aborted_delivered:
        violations.append(f"{len(aborted_delivered)} aborted messages were delivered: {aborted_delivered[:10]}")
    if rejected_delivered:
        violations.append(f"{len(rejected_delivered)} messages refused with 5xx (or never given DATA) were delivered: {rejected_delivered[:10]}")
    if notsent_delivered:
        violations.append(f"{len(notsent_delivered)} messages whose body was never sent were delivered: {notsent_delivered[:10]}")
    if corrupt:
        violations.append(f"{len(corrupt)} delivered messages differ from what was sent: {corrupt[:10]}")
    if unknown:
        violations.append(f"{len(unknown)} delivered tokens the generator never recorded: {unknown[:10]}")
    if len(records) != load["messages"]:
        violations.append(f"{len(records)} records for {load['messages']} messages")

    # probes: a miss = no reply line within 2 s. A miss of a listener is excused when it falls in a fault
    # window (the fault and 2 s after it) or when the MTA behind that listener, probed directly, was slow
    # (over 1 s or no reply) within 2 s of it: the inbound banner is Postfix's own, relayed.
    windows = [(f["t0"], f["t1"] + 2.0, f["fault"]) for f in faults]
    behind = {"inbound": "backend", "outbound": "remote"}
    direct_slow = {}
    for p in probes:
        if p["probe"] in ("backend", "remote") and (p["latency"] is None or p["latency"] > 1.0):
            direct_slow.setdefault(p["probe"], []).append(p["t"])

    def excused(p):
        if any(a <= p["t"] <= b for a, b, _ in windows):
            return "fault"
        if any(abs(t - p["t"]) <= 2.0 for t in direct_slow.get(behind.get(p["probe"], ""), [])):
            return "mta"
        return None

    probe_stats = {}
    for p in probes:
        s = probe_stats.setdefault(p["probe"], {"n": 0, "miss": 0, "miss_fault": 0, "miss_mta": 0, "max": 0.0, "lat": [], "codes": {}})
        s["n"] += 1
        if p["latency"] is None or p["latency"] > 2.0:
            s["miss"] += 1
            why = excused(p)
            if why == "fault":
                s["miss_fault"] += 1
            elif why == "mta":
                s["miss_mta"] += 1
        else:
            s["lat"].append(p["latency"])
            s["max"] = max(s["max"], p["latency"])
            s["codes"][str(p["code"])] = s["codes"].get(str(p["code"]), 0) + 1
    for name, s in probe_stats.items():
        s["lat"].sort()
        s["p50"] = s["lat"][len(s["lat"]) // 2] if s["lat"] else None
        s["p99"] = s["lat"][min(len(s["lat"]) - 1, int(len(s["lat"]) * 0.99))] if s["lat"] else None
        s["unexcused"] = s["miss"] - s["miss_fault"] - s["miss_mta"]
        if name in behind and s["unexcused"]:
            violations.append(f"{s['unexcused']} {name} probes got no reply within 2 s outside fault windows while the "
                              f"MTA behind answered ({s['miss']} misses in all)")
    if "inbound" not in probe_stats or "outbound" not in probe_stats:
        violations.append("no probes were made")

    rss_vals = [s["rss_kib"] for s in rss if s["rss_kib"] is not None]
    max_rss = max(rss_vals) if rss_vals else None
    end = load["end_sample"]
    alive = os.path.exists(f"/proc/{args.proxy_pid}")
    if not alive or end["rss_kib"] is None:
        violations.append("the proxy process is gone (crashed?)")
    if max_rss is None or max_rss > args.rss_limit_mib * 1024:
        violations.append(f"proxy RSS max {max_rss} KiB exceeds {args.rss_limit_mib} MiB")
    # RSS growth: the last quarter of the load must not sit far above the second quarter (a leak shows as a climb)
    if len(rss_vals) >= 20:
        q = len(rss_vals) // 4
        second = max(rss_vals[q:2 * q])
        last_q = max(rss_vals[3 * q:])
    else:
        second = last_q = None

    load_rss = [(x["t"], x["rss_kib"]) for x in rss if x["rss_kib"] is not None and x["t"] <= load["load_end"]]
    trajectory = []
    for q in (0.25, 0.5, 0.75, 1.0):
        pts = [v for t, v in load_rss if t <= load["start"] + q * (load["load_end"] - load["start"])]
        trajectory.append(f"{pts[-1] / 1024:.0f}" if pts else "-")

    fault_names = {}
    for f in faults:
        fault_names[f["fault"]] = fault_names.get(f["fault"], 0) + 1
        if f["rc"] != 0:
            violations.append(f"fault {f['fault']} failed (rc {f['rc']}): {f['out'][-300:]}")
    if len(faults) < load["faults_planned"] and not load.get("ended_early"):
        violations.append(f"only {len(faults)} of {load['faults_planned']} faults ran")
    aborts = {"data": 0, "bdat": 0}
    for r in records:
        if r["outcome"] == "aborted":
            aborts[r["body"]] += 1
    gen_errors = load["generator_errors"]
    if gen_errors:
        violations.append(f"{len(gen_errors)} generator/protocol errors: {gen_errors[:5]}")
    if load["ehlo_lacks_keyword"]:
        violations.append(f"{load['ehlo_lacks_keyword']} inbound EHLO replies lacked PIPECONNECT")

    # --- table
    dur = load["load_end"] - load["start"]
    ok_total = sum(v for (d, o), v in counts.items() if o == "ok")
    modes = {}
    for r in records:
        k = (r["dir"], r["mode"], "tls" if r["tls"] else "clear", r["body"])
        modes[k] = modes.get(k, 0) + 1
    out = []
    out.append(f"## Soak summary (run {run_id})")
    out.append("")
    if load.get("ended_early"):
        out.append(f"Ended early (SIGUSR1 or --max-seconds): {load['messages']} of {load['planned']} planned messages were sent.")
    out.append(f"{load['messages']} messages in {dur:.0f} s ({load['messages'] / dur:.0f} msgs/s offered; "
               f"{ok_total / dur:.0f} accepted/s), {load['in_concurrency']} inbound + {load['out_concurrency']} outbound "
               f"senders at once")
    out.append("")
    out.append("| outcome (sender's view) | inbound | outbound | delivered |")
    out.append("|---|---:|---:|---|")
    outcomes = sorted({o for (_, o) in counts})
    for o in outcomes:
        ci, co = counts.get(("in", o), 0), counts.get(("out", o), 0)
        dl = sum(1 for r in records if r["outcome"] == o and r["token"] in delivered)
        out.append(f"| {o} | {ci} | {co} | {dl} |")
    out.append("")
    out.append("| mix | messages |")
    out.append("|---|---:|")
    for k in sorted(modes):
        out.append(f"| {' '.join(k)} | {modes[k]} |")
    out.append("")
    out.append("| invariant | result |")
    out.append("|---|---|")
    out.append(f"| 2xx at end-of-data, delivered exactly once | {ok_total - len(lost)} of {ok_total} delivered; lost {len(lost)}; "
               f"delivered twice (two queue ids) {len(dup)} |")
    out.append(f"| MTA's own redelivery (one queue id delivered twice, after kill -9) | {len(redelivered)} |")
    out.append(f"| aborted (mid-DATA {aborts['data']}, mid-BDAT {aborts['bdat']}) delivered | {len(aborted_delivered)} |")
    out.append(f"| refused (5xx / MAIL / RCPT / DATA) delivered | {len(rejected_delivered)} |")
    out.append(f"| told 4xx, delivered anyway (allowed, noted) | {temp_delivered} |")
    out.append(f"| no end-of-data reply (connection lost), delivered (allowed) | {noreply_delivered} |")
    out.append(f"| delivered body differs from the one sent | {len(corrupt)} |")
    for name in sorted(probe_stats):
        s = probe_stats[name]
        label = {"inbound": "probe inbound listener", "outbound": "probe outbound listener",
                 "backend": "probe Postfix directly (reference)", "remote": "probe Exim directly (reference)"}[name]
        out.append(f"| {label}: reply within 2 s | {s['n'] - s['miss']} of {s['n']} (misses {s['miss']}: "
                   f"{s['miss_fault']} in fault windows, {s['miss_mta']} while the MTA was slow too); p50 {1000 * (s['p50'] or 0):.1f} ms, p99 {1000 * (s['p99'] or 0):.1f} ms, "
                   f"max {1000 * s['max']:.0f} ms; codes {s['codes']} |")
    out.append(f"| proxy RSS (limit {args.rss_limit_mib} MiB) | max {max_rss / 1024 if max_rss else 0:.0f} MiB, "
               f"end {end['rss_kib'] / 1024 if end['rss_kib'] else 0:.0f} MiB; 2nd-quarter max "
               f"{second / 1024 if second else 0:.0f} MiB, last-quarter max {last_q / 1024 if last_q else 0:.0f} MiB; "
               f"threads end {end['threads']}, fds end {end['fds']}; at 25/50/75/100 % of the load's time "
               f"{' / '.join(trajectory)} MiB |")
    out.append(f"| faults | {', '.join(f'{k} x{v}' for k, v in sorted(fault_names.items()))} |")
    out.append(f"| proxy alive at the end | {'yes' if alive else 'NO'} |")
    out.append("")
    if violations:
        out.append("VIOLATIONS:")
        out.extend("  - " + v for v in violations)
    else:
        out.append("All invariants held.")
    print("\n".join(out))
    # machine-readable
    kv = {
        "messages": load["messages"], "seconds": f"{dur:.1f}", "ok": ok_total,
        "ok_delivered": ok_total - len(lost), "lost": len(lost), "duplicates": len(dup),
        "mta_redelivered": len(redelivered), "aborted": aborts["data"] + aborts["bdat"],
        "aborted_data": aborts["data"], "aborted_bdat": aborts["bdat"], "aborted_delivered": len(aborted_delivered),
        "rejected_delivered": len(rejected_delivered), "notsent_delivered": len(notsent_delivered),
        "tempfail": sum(v for (d, o), v in counts.items() if o == "tempfail"), "tempfail_delivered": temp_delivered,
        "noreply": sum(v for (d, o), v in counts.items() if o == "noreply"), "noreply_delivered": noreply_delivered,
        "corrupt": len(corrupt), "unknown_delivered": len(unknown),
        "early": sum(v for k, v in modes.items() if k[1] == "early"),
        "lockstep": sum(v for k, v in modes.items() if k[1] == "lockstep"),
        "tls": sum(v for k, v in modes.items() if k[2] == "tls"),
        "inbound": sum(v for k, v in modes.items() if k[0] == "in"),
        "outbound": sum(v for k, v in modes.items() if k[0] == "out"),
        "rss_max_kib": max_rss, "rss_end_kib": end["rss_kib"], "rss_limit_kib": args.rss_limit_mib * 1024,
        "fds_end": end["fds"], "threads_end": end["threads"],
        "faults": len(faults), "fault_postfix_kill": fault_names.get("postfix-kill", 0),
        "fault_postfix_restart": fault_names.get("postfix-restart", 0), "fault_exim_stall": fault_names.get("exim-stall", 0),
        "proxy_alive": int(alive), "generator_errors": len(gen_errors), "violations": len(violations),
    }
    for name, s in probe_stats.items():
        kv[f"probe_{name}"] = s["n"]
        kv[f"probe_{name}_miss"] = s["miss"]
        kv[f"probe_{name}_miss_unexcused"] = s["unexcused"]
        kv[f"probe_{name}_max_ms"] = int(1000 * s["max"])
    print("SOAK_RESULT " + " ".join(f"{k}={v}" for k, v in kv.items()))
    for v in violations:
        print("SOAK_VIOLATION " + v)
    with open(os.path.join(w, "verify.json"), "w") as f:
        json.dump({"result": kv, "violations": violations, "lost": lost, "duplicates": dup,
                   "aborted_delivered": aborted_delivered, "rejected_delivered": rejected_delivered,
                   "corrupt": corrupt, "redelivered": redelivered}, f, indent=1)
    return 1 if violations else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("--inbound", type=hostport, required=True)
    lp.add_argument("--outbound", type=hostport, required=True)
    lp.add_argument("--proxy-pid", type=int, required=True)
    lp.add_argument("--work", required=True)
    lp.add_argument("--run-id", required=True)
    lp.add_argument("--backend-probe", type=hostport, help="Postfix itself, probed like the inbound listener")
    lp.add_argument("--remote-probe", type=hostport, help="Exim itself, probed like the outbound listener")
    lp.add_argument("--messages", type=int, default=20000)
    lp.add_argument("--in-concurrency", type=int, default=12)
    lp.add_argument("--out-concurrency", type=int, default=24)
    lp.add_argument("--in-per-conn", type=int, default=3, help="inbound connections carry 1..n messages")
    lp.add_argument("--out-per-conn", type=int, default=5, help="outbound connections carry 1..n messages")
    lp.add_argument("--tls-every", type=int, default=4, help="every n-th connection uses STARTTLS")
    lp.add_argument("--abort-every", type=int, default=40, help="2 of every n connections end in an abort")
    lp.add_argument("--big-fraction", type=float, default=0.03, help="share of messages of about 150-250 KB")
    lp.add_argument("--faults", default="postfix-kill:0.15,exim-stall:0.3,postfix-restart:0.45,exim-stall:0.6,postfix-kill:0.75,exim-stall:0.88")
    lp.add_argument("--max-seconds", type=float, default=0, help="stop handing out connections after this long (0: never)")
    lp.add_argument("--timeout", type=float, default=120.0)
    lp.add_argument("--settle", type=float, default=5.0)
    lp.add_argument("--seed", type=int, default=1)
    vp = sub.add_parser("verify")
    vp.add_argument("--work", required=True)
    vp.add_argument("--postfix-maildir", required=True)
    vp.add_argument("--exim-maildir", required=True)
    vp.add_argument("--proxy-pid", type=int, required=True)
    vp.add_argument("--rss-limit-mib", type=int, default=512)
    args = ap.parse_args()
    if args.cmd == "load":
        sys.exit(cmd_load(args))
    sys.exit(cmd_verify(args))


if __name__ == "__main__":
    main()
