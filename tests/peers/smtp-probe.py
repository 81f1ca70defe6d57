#!/usr/bin/env python3
"""One SMTP conversation from a chosen source address, for tests that must run it inside a network
namespace: banner, EHLO, MAIL, RCPT, QUIT. Prints one JSON object: each reply's code and text, and
how long the banner took.

  smtp-probe.py --source ADDR --host ADDR --port N --helo NAME --mail-from ADDR --rcpt ADDR
"""
import argparse
import json
import socket
import sys
import time


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            return {"code": 0, "text": "connection closed"}
        line = line.decode("latin-1").rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return {"code": int(line[:3]), "text": "\n".join(lines)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--source", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--helo", default="probe.client.test")
    p.add_argument("--mail-from", required=True)
    p.add_argument("--rcpt", required=True)
    args = p.parse_args()
    result = {}
    start = time.monotonic()
    sock = socket.create_connection((args.host, args.port), timeout=30, source_address=(args.source, 0))
    f = sock.makefile("rb")
    result["banner"] = read_reply(f)
    result["banner_seconds"] = round(time.monotonic() - start, 3)
    last = result["banner"]
    for key, command in (("ehlo", f"EHLO {args.helo}"), ("mail", f"MAIL FROM:<{args.mail_from}>"),
                         ("rcpt", f"RCPT TO:<{args.rcpt}>"), ("quit", "QUIT")):
        if last["code"] == 0:
            break  # the server closed the connection
        sock.sendall((command + "\r\n").encode("ascii"))
        last = result[key] = read_reply(f)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
