#!/usr/bin/env python3
"""Hold COUNT idle SMTP connections open: connect, read the 220 banner, then wait.

    idle_conns.py HOST PORT COUNT READY_FILE RELEASE_FILE [MAX_SECONDS]

Connects at most 200 at a time. When every connection has its banner it writes
"ok <count> <failed>" to READY_FILE, then holds until RELEASE_FILE exists or
MAX_SECONDS (default 120) have passed, whichever comes first, and closes all.
Never runs longer than MAX_SECONDS + connect time; exits 1 if a connection
failed or got no 220 banner.
"""
import asyncio
import os
import sys


async def open_one(host, port, sem, conns, failures):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
            banner = await asyncio.wait_for(reader.readline(), 30)
            if not banner.startswith(b"220"):
                failures.append(banner[:80])
                writer.close()
                return
            conns.append(writer)
        except (OSError, asyncio.TimeoutError) as ex:
            failures.append(repr(ex))


async def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ready_file, release_file = sys.argv[4], sys.argv[5]
    max_seconds = float(sys.argv[6]) if len(sys.argv) > 6 else 120.0
    sem = asyncio.Semaphore(200)
    conns, failures = [], []
    await asyncio.gather(*(open_one(host, port, sem, conns, failures) for _ in range(count)))
    with open(ready_file + ".tmp", "w") as f:
        f.write(f"ok {len(conns)} {len(failures)}\n")
    os.rename(ready_file + ".tmp", ready_file)
    if failures:
        print(f"idle_conns: {len(failures)} failed, first: {failures[0]!r}", file=sys.stderr)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    while loop.time() < deadline and not os.path.exists(release_file):
        await asyncio.sleep(0.1)
    for w in conns:
        w.close()
    await asyncio.sleep(0.2)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
