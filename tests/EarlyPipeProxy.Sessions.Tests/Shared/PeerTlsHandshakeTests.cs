using System.Text.RegularExpressions;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// Drift 2, closed: the peer's TLS handshake with the proxy is reported the same way in both directions: X= on the
/// session line and a "client"-side handshake in the metrics when it succeeds; a "TLS handshake failed" log line and
/// end="TLS handshake failed" when it does not. Outbound, the remote's TLS is UX=, never X=.
/// </summary>
public sealed class PeerTlsHandshakeTests
{
    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task StartTls_HandshakeSucceeds_SessionLineHasXFieldAndMetricsCountAClientSideHandshake(string direction)
    {
        // Arrange
        using var metrics = new ProxyMetrics();
        using var meter = new HandshakeMeter(metrics);
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep(), peerTls: true, metrics: metrics);
        await session.StartAndEhloAsync();

        // Act
        var goAhead = await session.CommandAsync("STARTTLS");
        await session.Client.StartTlsAsync();
        var ehlo = await session.CommandAsync(session.Ehlo);
        var quit = await session.CommandAsync("QUIT");
        var rest = await session.Client.ReadToTlsEndAsync();
        session.Client.Disconnect();
        await session.WaitForEndAsync();

        // Assert
        Assert.Equal(["220 2.0.0 Ready to start TLS"], goAhead);
        Assert.StartsWith("250 ", ehlo[^1], StringComparison.Ordinal);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(string.Empty, rest);
        var line = session.SessionLine();
        Assert.Contains(" X=TLS1.", line, StringComparison.Ordinal);
        Assert.Matches(@" X=TLS1\.[23]:TLS_[A-Z0-9_]+\*? ", line);
        Assert.DoesNotContain(" UX=", line, StringComparison.Ordinal);
        Assert.DoesNotContain(" BX=", line, StringComparison.Ordinal);
        Assert.Contains("end=\"QUIT\"", line, StringComparison.Ordinal);
        var handshake = Assert.Single(meter.Measurements);
        Assert.Equal(new HandshakeMeasurement(1, direction, "client", "false"), handshake);
    }

    /// <summary>
    /// A second connection to the same listener: whether it resumes is up to the TLS stacks (.NET on both ends here),
    /// but the session line's '*' and the metric's resumed tag must agree, the same way in both directions. (The
    /// in-memory .NET client does not resume here; the end-to-end tests prove resumption itself with OpenSSL.)
    /// </summary>
    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task StartTls_SecondConnectionToTheSameListener_StarOnXAgreesWithTheResumedTag(string direction)
    {
        // Arrange
        using var metrics = new ProxyMetrics();
        using var meter = new HandshakeMeter(metrics);
        await using var first = DirectedSession.Create(direction, FakeBackendOptions.Lockstep(), peerTls: true, metrics: metrics);
        await using var second = DirectedSession.Create(direction, FakeBackendOptions.Lockstep(), metrics: metrics, sameListenerAs: first);

        // Act: two connections, one after the other, each with STARTTLS, EHLO and QUIT.
        await SecureAndQuitAsync(first);
        await SecureAndQuitAsync(second);

        // Assert: the first is a full handshake; the second is marked as the metric counts it.
        Assert.Matches(@" X=TLS1\.[23]:TLS_[A-Z0-9_]+ ", first.SessionLine());
        var secondLine = second.SessionLine();
        Assert.Matches(@" X=TLS1\.[23]:TLS_[A-Z0-9_]+\*? ", secondLine);
        var resumed = Regex.IsMatch(secondLine, @" X=\S+\* ");
        Assert.Equal(
            [new HandshakeMeasurement(1, direction, "client", "false"), new HandshakeMeasurement(1, direction, "client", resumed ? "true" : "false")],
            meter.Measurements);
    }

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task StartTls_PeerSendsGarbageInsteadOfClientHello_LoggedAndSessionLineEndsTlsHandshakeFailed(string direction)
    {
        // Arrange
        using var metrics = new ProxyMetrics();
        using var meter = new HandshakeMeter(metrics);
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep(), peerTls: true, metrics: metrics);
        await session.StartAndEhloAsync();
        Assert.Equal(["220 2.0.0 Ready to start TLS"], await session.CommandAsync("STARTTLS"));

        // Act: a peer that never speaks TLS goes on in cleartext.
        await session.Client.SendAsync($"{HarnessExtensions.Sender}\r\n{HarnessExtensions.Recipient}\r\nDATA\r\n");
        var rest = await session.Client.ReadToTlsEndAsync();
        session.Client.Disconnect();
        await session.WaitForEndAsync();

        // Assert: the peer got nothing more, the upstream nothing of it
        Assert.DoesNotContain("250", rest, StringComparison.Ordinal);
        Assert.DoesNotContain("354", rest, StringComparison.Ordinal);
        var upstream = await session.UpstreamAsync();
        Assert.Equal(session.Ehlo, upstream.CommandLines[0]);
        Assert.DoesNotContain(upstream.CommandLines, l => l.StartsWith("MAIL", StringComparison.Ordinal)
            || l.StartsWith("RCPT", StringComparison.Ordinal) || l.StartsWith("DATA", StringComparison.Ordinal));

        // Assert: the log, the session line and the metrics
        Assert.Contains(session.Log.Lines, l => l.Contains("TLS handshake failed", StringComparison.Ordinal)
            && !l.StartsWith("Information: session ", StringComparison.Ordinal) && !l.StartsWith("Information: outbound ", StringComparison.Ordinal));
        var line = session.SessionLine();
        Assert.Contains("end=\"TLS handshake failed\"", line, StringComparison.Ordinal);
        Assert.DoesNotContain(" X=", line, StringComparison.Ordinal);
        Assert.Empty(meter.Measurements);
    }

    private static async Task SecureAndQuitAsync(DirectedSession session)
    {
        await session.StartAndEhloAsync();
        Assert.Equal(["220 2.0.0 Ready to start TLS"], await session.CommandAsync("STARTTLS"));
        await session.Client.StartTlsAsync();
        Assert.StartsWith("250 ", (await session.CommandAsync(session.Ehlo))[^1], StringComparison.Ordinal);
        Assert.Equal(["221 2.0.0 Bye"], await session.CommandAsync("QUIT"));
        Assert.Equal(string.Empty, await session.Client.ReadToTlsEndAsync());
        session.Client.Disconnect();
        await session.WaitForEndAsync();
    }
}
