#!/usr/bin/env python3
"""A scripted DNS server for tests: fixed PTR and A answers, NXDOMAIN for anything else, and
addresses whose PTR query is never answered (a stalled resolver). UDP only; one process, no threads.

  stub-dns.py --listen 127.0.0.1 --port 53 [--ptr ADDR=NAME]... [--a NAME=ADDR]... [--stall ADDR]...

Meant to run inside a throwaway network namespace whose resolv.conf points at it; prints
"stub-dns ready" once bound, and one line per query ("query NAME TYPE -> ANSWER").
"""
import argparse
import socket
import struct
import sys

A, PTR = 1, 12


def reverse_name(addr):
    return ".".join(reversed(addr.split("."))) + ".in-addr.arpa"


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def parse_question(packet):
    labels, i = [], 12
    while packet[i] != 0:
        n = packet[i]
        labels.append(packet[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, qclass = struct.unpack("!HH", packet[i + 1:i + 5])
    return ".".join(labels).lower(), qtype, qclass, i + 5


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=53)
    p.add_argument("--ptr", action="append", default=[])
    p.add_argument("--a", action="append", default=[])
    p.add_argument("--stall", action="append", default=[])
    args = p.parse_args()
    ptr = {reverse_name(k): v for k, v in (x.split("=", 1) for x in args.ptr)}
    a = {k.lower(): v for k, v in (x.split("=", 1) for x in args.a)}
    stall = {reverse_name(x) for x in args.stall}

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.listen, args.port))
    print("stub-dns ready", flush=True)
    while True:
        packet, peer = sock.recvfrom(4096)
        if len(packet) < 17:
            continue
        try:
            name, qtype, qclass, end = parse_question(packet)
        except (IndexError, struct.error):
            continue
        if name in stall:
            print(f"query {name} {qtype} -> (stalled)", flush=True)
            continue
        answers, rcode = [], 3  # NXDOMAIN unless the name is known
        if name in ptr:
            rcode = 0
            if qtype == PTR:
                answers.append((PTR, encode_name(ptr[name])))
        elif name in a:
            rcode = 0
            if qtype == A:
                answers.append((A, socket.inet_aton(a[name])))
        txid, flags = struct.unpack("!HH", packet[:4])
        header = struct.pack("!HHHHHH", txid, 0x8400 | (flags & 0x0100) | 0x0080 | rcode, 1, len(answers), 0, 0)
        body = packet[12:end]
        for rtype, rdata in answers:
            body += struct.pack("!HHHIH", 0xC00C, rtype, 1, 60, len(rdata)) + rdata
        sock.sendto(header + body, peer)
        print(f"query {name} {qtype} -> rcode {rcode}, {len(answers)} answer(s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
