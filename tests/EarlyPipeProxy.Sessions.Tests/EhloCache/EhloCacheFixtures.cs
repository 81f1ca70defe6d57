using System.Net;
using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Sessions.Tests.EhloCache;

/// <summary>Keys and EHLO replies shared by the cache tests.</summary>
internal static class EhloCacheFixtures
{
    public static readonly IPAddress Local = IPAddress.Parse("192.0.2.10");
    public static readonly IPAddress OtherLocal = IPAddress.Parse("192.0.2.11");
    public static readonly IPAddress Remote = IPAddress.Parse("198.51.100.25");

    public static EhloCacheKey Key(TlsPhase phase = TlsPhase.Cleartext, IPAddress? local = null, IPAddress? remote = null, int port = 25) =>
        new(local ?? Local, remote ?? Remote, port, phase);

    /// <summary>An Exim 4.96 style reply: PIPECONNECT right after PIPELINING.</summary>
    public static string[] EarlyReply(string keyword = "PIPECONNECT", string size = "52428800") =>
    [
        "250-mx.example.org Hello proxy [192.0.2.10]",
        "250-SIZE " + size,
        "250-8BITMIME",
        "250-PIPELINING",
        "250-" + keyword,
        "250 CHUNKING",
    ];

    public static string[] PlainReply() =>
    [
        "250-mx.example.org Hello proxy [192.0.2.10]",
        "250-SIZE 52428800",
        "250-PIPELINING",
        "250 CHUNKING",
    ];

    public static string TempPath(string name) =>
        Path.Combine(Path.GetTempPath(), "earlypipe-ehlo-tests", Guid.NewGuid().ToString("N"), name);
}
