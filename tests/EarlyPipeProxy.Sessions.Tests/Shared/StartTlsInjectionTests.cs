using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// Drift 1, closed: cleartext sent together with STARTTLS is discarded before the go-ahead, logged as a warning, and
/// never executed after the handshake (CVE-2011-0411), in both directions.
/// </summary>
public sealed class StartTlsInjectionTests
{
    public static TheoryData<string, string> Injections => new()
    {
        { Direction.Inbound, "RSET\r\n" },
        { Direction.Outbound, "RSET\r\n" },
        { Direction.Inbound, "MAIL FROM:<x@example.org>\r\n" },
        { Direction.Outbound, "MAIL FROM:<x@example.org>\r\n" },
    };

    [Theory]
    [MemberData(nameof(Injections))]
    public async Task StartTls_CleartextInTheSameWrite_IsDiscardedLoggedAndNeverReachesTheUpstream(string direction, string injected)
    {
        // Arrange
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep(), peerTls: true);
        var ehlo = await session.StartAndEhloAsync();

        // Act: the injected command rides in the same write as STARTTLS.
        await session.Client.SendAsync("STARTTLS\r\n" + injected);
        var goAhead = await session.Client.ReadReplyAsync();
        await session.Client.StartTlsAsync();
        var quiet = await session.Client.IsQuietAsync(TimeSpan.FromMilliseconds(300));
        var ehloAgain = await session.CommandAsync(session.Ehlo);
        var quit = await session.CommandAsync("QUIT");
        var rest = await session.Client.ReadToTlsEndAsync();
        session.Client.Disconnect();
        await session.WaitForEndAsync();

        // Assert: the peer
        Assert.Contains(ehlo, l => l[4..] == "STARTTLS");
        Assert.Equal(["220 2.0.0 Ready to start TLS"], goAhead);
        Assert.True(quiet, "no reply to the injected command\n" + session.Describe());
        Assert.StartsWith("250 ", ehloAgain[^1], StringComparison.Ordinal);
        Assert.DoesNotContain(ehloAgain, l => l[4..] == "STARTTLS");
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(string.Empty, rest);

        // Assert: the upstream never saw the injected command, before or after the handshake
        var upstream = await session.UpstreamAsync();
        var verb = injected[..4];
        Assert.DoesNotContain(upstream.CommandLines, l => l.StartsWith(verb, StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(injected.TrimEnd(), upstream.ReceivedText, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("STARTTLS", upstream.ReceivedText, StringComparison.OrdinalIgnoreCase);
        Assert.Equal([session.Ehlo, session.Ehlo, "QUIT"], upstream.CommandLines);

        // Assert: the log and the session line
        Assert.Contains(session.Log.Lines, l => l.StartsWith("Warning: ", StringComparison.Ordinal)
            && l.Contains($"{injected.Length} octets of cleartext after STARTTLS discarded", StringComparison.Ordinal));
        var line = session.SessionLine();
        Assert.Contains(" X=TLS1.", line, StringComparison.Ordinal);
        Assert.Contains("end=\"QUIT\"", line, StringComparison.Ordinal);
    }
}
