#!/usr/bin/env python3
"""A strictly lockstep SMTP sender: the legacy client the outbound proxy stands in for.

Every command is written only after the complete reply to the previous one was read; nothing is ever
pipelined, not even when the server offers PIPELINING. It plays the sender side of the outbound tests
and of the latency benchmark, so it also measures how long it waited for every reply.

  lockstep-send.py --host 127.0.0.1 --port 2025 --from a@x.test --to b@y.test [--to c@y.test]
                   [--helo NAME] [--messages N] [--connections M] [--subject S] [--message-id PREFIX]
                   [--body-lines K | --body-file FILE] [--timeout SEC] [--json]

Per connection: banner, EHLO (HELO if EHLO is refused with 500/502), then N transactions of
MAIL, RCPT per --to, DATA, message, end-of-data (no RSET after a delivered message; RSET only to close
a transaction that did not reach end-of-data), then QUIT. The M connections run one after the other.

Message ids: "<PREFIX>-<connection>-<message>" (1-based); the message carries it in Message-ID
(<id@lockstep.test>), in X-Lockstep-Id and at the end of its Subject. The body is --body-file as is (line ends
made CRLF) or K generated lines, the first of which starts with "." so every run checks dot-stuffing.
The body is dot-stuffed on the wire; "body_sha256" in the JSON is of the unstuffed body (CRLF line ends)
and "body" is that body itself, so a test can compare what was delivered byte for byte.

--json: one JSON object per connection on stdout, written when the connection is over:
  {"connection": 1, "connect_ms": .., "total_ms": .., "ok": true|false, "error": null|"...",
   "steps": [{"command": "<banner>"|"EHLO ..."|"<end-of-data>"|..., "code": 250, "reply": "full text",
              "ms": time from the end of our write to the last byte of the reply}],
   "messages": [{"id": .., "message_id": .., "code": 250|..., "reply": .., "delivered": true|false,
                 "body_sha256": .., "body": ..}]}
total_ms runs from just before connect() to just after close(). Without --json a transcript goes to stdout.

Exit status: 0 only if every message of every connection got 250 after its end-of-data; 1 otherwise
(a refused RCPT or MAIL is reported and the session carries on to QUIT); 2 for bad arguments.
Python 3 standard library only.
"""

import argparse
import hashlib
import json
import socket
import sys
import time


class SmtpClosed(Exception):
    """The server closed the connection (or a read timed out) before a complete reply."""


class LockstepConnection:
    def __init__(self, host, port, timeout, transcript):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.transcript = transcript
        self.sock = None
        self.buffer = b""
        self.steps = []

    def connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        # Our writes are whole commands and the wait for each reply is what we measure: no Nagle delay.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def _read_line(self):
        while True:
            i = self.buffer.find(b"\n")
            if i >= 0:
                line, self.buffer = self.buffer[: i + 1], self.buffer[i + 1 :]
                return line.rstrip(b"\r\n").decode("latin-1")
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout as e:
                raise SmtpClosed(f"no reply within {self.timeout}s") from e
            except OSError as e:
                raise SmtpClosed(f"connection error: {e}") from e
            if not chunk:
                raise SmtpClosed("connection closed by the server")
            self.buffer += chunk

    def _read_reply(self):
        lines = []
        while True:
            line = self._read_line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        code = int(lines[0][:3]) if lines[0][:3].isdigit() else -1
        return code, "\n".join(lines)

    def exchange(self, label, data):
        """Writes data (None: nothing, e.g. for the banner), then waits for the one reply it deserves."""
        if data is not None:
            if self.transcript:
                shown = label if label == "<end-of-data>" else data.decode("latin-1").rstrip("\r\n")
                print(f"C: {shown}", flush=True)
            self.sock.sendall(data)
        started = time.perf_counter()
        try:
            code, text = self._read_reply()
        except SmtpClosed as e:
            self.steps.append({"command": label, "code": None, "reply": None,
                               "ms": round((time.perf_counter() - started) * 1000, 3), "error": str(e)})
            raise
        ms = round((time.perf_counter() - started) * 1000, 3)
        self.steps.append({"command": label, "code": code, "reply": text, "ms": ms})
        if self.transcript:
            lines = text.split("\n")
            for line in lines[:-1]:
                print(f"S: {line}", flush=True)
            print(f"S: {lines[-1]}    [{ms} ms]", flush=True)
        return code, text

    def command(self, line):
        return self.exchange(line, (line + "\r\n").encode("latin-1"))


def crlf_lines(text):
    """Splits text into lines whatever its line ends were; a final line end does not add an empty line."""
    return text.replace("\r\n", "\n").split("\n")[:-1] if text.endswith(("\n", "\r\n")) else text.replace("\r\n", "\n").split("\n")


def make_body(args, msg_id):
    if args.body_text is not None:
        lines = crlf_lines(args.body_text)
    else:
        lines = [f".leading dot line of {msg_id} (dot-stuffing check)"]
        lines += [f"line {n} of {args.body_lines} in {msg_id}" for n in range(2, args.body_lines + 1)]
    return "".join(line + "\r\n" for line in lines)


def make_message(args, msg_id, body):
    headers = [
        f"From: <{args.mail_from}>",
        "To: " + ", ".join(f"<{r}>" for r in args.to),
        f"Subject: {args.subject} {msg_id}",
        f"Message-ID: <{msg_id}@lockstep.test>",
        f"X-Lockstep-Id: {msg_id}",
        "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
    ]
    return "".join(h + "\r\n" for h in headers) + "\r\n" + body


def dot_stuff(text):
    # RFC 5321 4.5.2: a line that starts with "." gets one more; the terminator follows the final CRLF.
    stuffed = "".join(("." + line if line.startswith(".") else line) + "\r\n" for line in crlf_lines(text))
    return (stuffed + ".\r\n").encode("latin-1")


def run_connection(args, number):
    result = {"connection": number, "host": args.host, "port": args.port,
              "connect_ms": None, "total_ms": None, "ok": False, "error": None,
              "steps": [], "messages": []}
    conn = LockstepConnection(args.host, args.port, args.timeout, transcript=not args.json)
    began = time.perf_counter()
    try:
        conn.connect()
        result["connect_ms"] = round((time.perf_counter() - began) * 1000, 3)
        code, _ = conn.exchange("<banner>", None)
        if code != 220:
            raise SmtpClosed(f"banner {code}")
        code, _ = conn.command(f"EHLO {args.helo}")
        if code in (500, 502):
            code, _ = conn.command(f"HELO {args.helo}")
        if code != 250:
            raise SmtpClosed(f"greeting refused with {code}")
        for m in range(1, args.messages + 1):
            msg_id = f"{args.message_id}-{number}-{m}"
            body = make_body(args, msg_id)
            entry = {"id": msg_id, "message_id": f"<{msg_id}@lockstep.test>", "code": None, "reply": None,
                     "delivered": False, "body_sha256": hashlib.sha256(body.encode("latin-1")).hexdigest(),
                     "body": body}
            result["messages"].append(entry)
            code, text = conn.command(f"MAIL FROM:<{args.mail_from}>")
            if code == 421:
                raise SmtpClosed("421 to MAIL")
            if code != 250:
                entry["code"], entry["reply"] = code, text
                continue
            accepted = 0
            for rcpt in args.to:
                code, _ = conn.command(f"RCPT TO:<{rcpt}>")
                if code == 421:
                    raise SmtpClosed("421 to RCPT")
                if code in (250, 251):
                    accepted += 1
            if accepted == 0:
                code, text = conn.command("RSET")
                if code == 421:
                    raise SmtpClosed("421 to RSET")
                continue
            code, text = conn.command("DATA")
            if code != 354:
                entry["code"], entry["reply"] = code, text
                if code == 421:
                    raise SmtpClosed("421 to DATA")
                conn.command("RSET")
                continue
            code, text = conn.exchange("<end-of-data>", dot_stuff(make_message(args, msg_id, body)))
            entry["code"], entry["reply"], entry["delivered"] = code, text, code == 250
            if code == 421:
                raise SmtpClosed("421 after end-of-data")
        conn.command("QUIT")
    except SmtpClosed as e:
        result["error"] = str(e)
    except OSError as e:
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        conn.close()
        result["total_ms"] = round((time.perf_counter() - began) * 1000, 3)
    result["steps"] = conn.steps
    delivered = sum(1 for e in result["messages"] if e["delivered"])
    result["ok"] = result["error"] is None and delivered == args.messages
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                epilog="See the top of this file for the JSON and the exit status.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--helo", default="lockstep.test")
    p.add_argument("--from", dest="mail_from", default="sender@lockstep.test")
    p.add_argument("--to", action="append", required=True, help="recipient (repeatable)")
    p.add_argument("--messages", type=int, default=1, help="messages per connection (default 1)")
    p.add_argument("--connections", type=int, default=1, help="sequential connections (default 1)")
    p.add_argument("--subject", default="lockstep", help="subject prefix; the message id is appended")
    p.add_argument("--message-id", default="lockstep", help="message id prefix (default lockstep)")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body-lines", type=int, default=3, help="generated body lines, the first starts with '.'")
    body.add_argument("--body-file", help="body to send (line ends made CRLF; dot-stuffed on the wire)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for connect and for each reply")
    p.add_argument("--json", action="store_true", help="one JSON object per connection on stdout")
    args = p.parse_args()
    if args.messages < 1 or args.connections < 1 or args.body_lines < 1:
        p.error("--messages, --connections and --body-lines must be at least 1")
    # Read once: the file may be a pipe (bash's <(...)), and every message carries the same body.
    args.body_text = None
    if args.body_file is not None:
        with open(args.body_file, "rb") as f:
            args.body_text = f.read().decode("latin-1")

    all_ok = True
    for c in range(1, args.connections + 1):
        result = run_connection(args, c)
        all_ok = all_ok and result["ok"]
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            for e in result["messages"]:
                last = (e["reply"] or "").split("\n")[-1]
                print(f"message {e['id']}: {'delivered' if e['delivered'] else 'NOT delivered'} ({last})", flush=True)
            print(f"connection {c}: {'ok' if result['ok'] else 'FAILED'}"
                  f"{'' if result['error'] is None else ' (' + result['error'] + ')'} total {result['total_ms']} ms",
                  flush=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
