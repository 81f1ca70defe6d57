#!/usr/bin/python3
"""Userspace stand-in for `tc qdisc ... netem delay`, for kernels built
without sch_netem.  Standard library only.

    delay_line.py --ns-a epp-cli --dev-a epp-c --ns-b epp-srv --dev-b epp-s \
                  --delay-ms 25 [--pid-file FILE]

Opens a tun device (IFF_TUN | IFF_NO_PI: raw IP packets) called DEV_A inside
network namespace NS_A and another called DEV_B inside NS_B.  Every packet
read from one device is written to the other DELAY_MS later, so the two
namespaces see a point-to-point link with DELAY_MS one-way delay (2*DELAY_MS
round trip).  The delay is constant, so each direction is a plain FIFO: a
packet can never overtake an earlier one.

The devices are not persistent: they disappear when this process exits
(SIGTERM/SIGINT stop it cleanly).  The pid file is written, atomically, only
after both devices exist, so a caller may wait for it and then configure
addresses on the devices.
"""
import argparse
import collections
import ctypes
import fcntl
import os
import select
import signal
import struct
import sys
import time

_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _enter(ns_fd):
    if _libc.setns(ns_fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, 'setns: ' + os.strerror(err))


def tun_in_netns(netns, name):
    """Create tun device `name` inside the named netns; return its fd."""
    own = os.open('/proc/self/ns/net', os.O_RDONLY)
    target = os.open(os.path.join('/run/netns', netns), os.O_RDONLY)
    try:
        _enter(target)
        try:
            fd = os.open('/dev/net/tun', os.O_RDWR | os.O_CLOEXEC)
            ifr = struct.pack('16sH22x', name.encode(), _IFF_TUN | _IFF_NO_PI)
            fcntl.ioctl(fd, _TUNSETIFF, ifr)
        finally:
            _enter(own)
    finally:
        os.close(target)
        os.close(own)
    os.set_blocking(fd, False)
    return fd


class Direction:
    """One way of the link: packets read from `src` go to `dst` later."""

    def __init__(self, src, dst, delay):
        self.src, self.dst, self.delay = src, dst, delay
        self.queue = collections.deque()   # (due, packet), due ascending
        self.forwarded = self.dropped = 0

    def pull(self, now):
        due = now + self.delay
        while True:
            try:
                pkt = os.read(self.src, 65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not pkt:
                return
            self.queue.append((due, pkt))

    def push(self, now):
        q = self.queue
        while q and q[0][0] <= now:
            pkt = q.popleft()[1]
            try:
                os.write(self.dst, pkt)
                self.forwarded += 1
            except OSError:
                self.dropped += 1       # device gone or full: a lossy link drops

    def next_due(self):
        return self.queue[0][0] if self.queue else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--ns-a', required=True)
    ap.add_argument('--dev-a', required=True)
    ap.add_argument('--ns-b', required=True)
    ap.add_argument('--dev-b', required=True)
    ap.add_argument('--delay-ms', type=float, default=25.0)
    ap.add_argument('--pid-file')
    args = ap.parse_args()
    # A daemon: drop descriptors inherited from the caller (lock files,
    # pipes a test runner waits on) so they do not outlive the caller.
    os.closerange(3, 4096)

    fa = tun_in_netns(args.ns_a, args.dev_a)
    fb = tun_in_netns(args.ns_b, args.dev_b)
    delay = args.delay_ms / 1000.0
    ways = {fa: Direction(fa, fb, delay), fb: Direction(fb, fa, delay)}

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    if args.pid_file:
        tmp = args.pid_file + '.new'
        with open(tmp, 'w') as f:
            f.write('%d\n' % os.getpid())
        os.replace(tmp, args.pid_file)
    print('delay line up: %s/%s <-> %s/%s, %.1f ms each way, pid %d' % (
        args.ns_a, args.dev_a, args.ns_b, args.dev_b, args.delay_ms, os.getpid()), flush=True)

    fds = [fa, fb]
    while not stop:
        now = time.monotonic()
        for w in ways.values():
            w.push(now)
        dues = [d for d in (w.next_due() for w in ways.values()) if d is not None]
        # select() takes a float (microsecond resolution); poll/epoll would
        # round up to whole milliseconds and add that to every packet.
        timeout = 0.5 if not dues else max(0.0, min(dues) - time.monotonic())
        try:
            readable, _, broken = select.select(fds, [], fds, timeout)
        except InterruptedError:
            continue
        if broken:
            break
        now = time.monotonic()
        for fd in readable:
            ways[fd].pull(now)
    for fd in ways:
        os.close(fd)
    print('delay line stopped: forwarded %d/%d, dropped %d/%d (a->b / b->a)' % (
        ways[fa].forwarded, ways[fb].forwarded, ways[fa].dropped, ways[fb].dropped), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
