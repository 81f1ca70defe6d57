using System.Globalization;
using System.Net;
using EarlyPipeProxy.Sessions.EhloCache;

// Usage: probe DATABASE ROUND
// Opens the cache, then learns, rewrites and flushes entries as fast as it can, printing "persisted N" each time the
// writer has put everything so far into the file. The test kills it with SIGKILL at a random moment and reopens the
// file. ROUND varies the local address, so each round adds keys of its own.
if (args.Length != 2 || !int.TryParse(args[1], CultureInfo.InvariantCulture, out var round))
{
    Console.Error.WriteLine("usage: probe DATABASE ROUND");
    return 2;
}

var cache = EhloCache.Open(new EhloCacheOptions { DatabasePath = args[0] }, TimeProvider.System);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"opened {cache.Count}"));

var local = IPAddress.Parse(string.Create(CultureInfo.InvariantCulture, $"10.0.{round % 256}.1"));
for (var i = 0; ; i++)
{
    // Cleartext keys are only ever learnt, so every one learnt before a "persisted" line must survive the kill;
    // AfterStartTls keys are learnt and flushed again, so deletes happen in the same file all the time.
    cache.Learn(Key(i, TlsPhase.Cleartext), 220, Reply(i));
    if (i % 3 == 0)
    {
        cache.Learn(Key(i, TlsPhase.AfterStartTls), 220, Reply(i));
    }
    else if (i % 3 == 2)
    {
        cache.Flush(Key(i - 2, TlsPhase.AfterStartTls), EhloCacheFlushReason.TransientRejection);
    }

    if (i % 50 == 49)
    {
        await cache.WaitForPendingWritesAsync();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"persisted {i + 1}"));
    }
}

// 10,000 distinct keys per round; the index is in SIZE so the test can tell which write it sees.
EhloCacheKey Key(int i, TlsPhase phase) =>
    new(local, new IPAddress([192, 0, 2, (byte)(i % 200)]), 25 + (i / 200 % 50), phase);

// Lines that change size with i, so LiteDB has to move documents between pages, not just overwrite them.
static string[] Reply(int i) =>
[
    string.Create(CultureInfo.InvariantCulture, $"250-mx{i}.example Hello"),
    "250-PIPELINING",
    string.Create(CultureInfo.InvariantCulture, $"250-SIZE {i}"),
    "250-X-PAD " + new string('x', i % 700),
    "250 PIPECONNECT",
];
