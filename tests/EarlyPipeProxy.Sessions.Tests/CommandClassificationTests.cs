using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>
/// The proxy reads a command line's verb as Postfix's tokenizer does (smtpd/smtpd_token.c: leading whitespace
/// skipped, words split at any whitespace), and a line with a control byte never reaches the backend: whatever the
/// backend would run as XCLIENT or XFORWARD is refused, and DATA, BDAT, STARTTLS and AUTH are framed as the backend
/// frames them.
/// </summary>
public sealed class CommandClassificationTests
{
    [Theory]
    [InlineData("XCLIENT ADDR=10.0.0.1")]
    [InlineData(" XCLIENT ADDR=10.0.0.1")]
    [InlineData("\tXCLIENT ADDR=10.0.0.1")]
    [InlineData("XCLIENT\tADDR=10.0.0.1")]
    [InlineData("  \t XCLIENT \t ADDR=10.0.0.1")]
    [InlineData("xclient addr=10.0.0.1")]
    [InlineData(" xClient\tADDR=10.0.0.1")]
    [InlineData("XCLIENT\t")]
    [InlineData("XFORWARD ADDR=10.0.0.1")]
    [InlineData("XFORWARD\tADDR=10.0.0.1")]
    [InlineData(" XFORWARD ADDR=10.0.0.1")]
    [InlineData("\txforward\taddr=10.0.0.1")]
    public async Task CommandLoop_XclientOrXforwardInAnySpelling_IsRefusedAndNeverReachesTheBackend(string line)
    {
        // Arrange
        var script = FakeBackendOptions.Pipelining("XCLIENT NAME ADDR PORT", "XFORWARD NAME ADDR");
        await using var harness = new SessionHarness(script);
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync($"{line}\r\nNOOP\r\n");
        var refused = await harness.Client.ReadReplyAsync();
        var noop = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["550 5.7.0 Error: insufficient authorization"], refused);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", "NOOP"], backend.CommandLines);
        Assert.DoesNotContain("10.0.0.1", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("NOOP\0")]
    [InlineData("XCLIENT ADDR=10.0.0.1\0")]
    [InlineData("XCLIENT ADDR=10.0.0.1\0 NAME=x")]
    [InlineData("\0XCLIENT ADDR=10.0.0.1")]
    [InlineData("MAIL FROM:<alice@example.org>\u0001")]
    [InlineData("RSET\u000b")]
    [InlineData("\u000cXCLIENT ADDR=10.0.0.1")]
    [InlineData("NOOP \u001b[31m")]
    [InlineData("NOOP\u007f")]
    public async Task CommandLoop_ControlByteInCommandLine_Replies500AndRelaysNothingOfIt(string line)
    {
        // Arrange
        var script = FakeBackendOptions.Pipelining("XCLIENT NAME ADDR PORT");
        await using var harness = new SessionHarness(script);
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync($"{line}\r\nNOOP\r\n");
        var refused = await harness.Client.ReadReplyAsync();
        var noop = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["500 5.5.2 Error: NUL or control character in command line"], refused);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", "NOOP"], backend.CommandLines);
    }

    [Theory]
    [InlineData("DATA\t")]
    [InlineData(" DATA")]
    [InlineData("\tdata")]
    [InlineData("DATA \t ")]
    public async Task DataAsync_DataSpelledWithWhitespace_IsFramedAsData(string line)
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToRecipientAsync();

        // Act
        await harness.Client.SendAsync($"{line}\r\n");
        var data = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("Subject: x\r\n\r\nNOOP\r\n.\r\n");
        var done = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal("354", data[0][..3]);
        Assert.Equal("250", done[0][..3]);
        var backend = await harness.BackendAsync();
        Assert.Equal(["Subject: x\r\n\r\nNOOP\r\n"], backend.Messages);
        Assert.True(backend.Violations.Count == 0, backend.Describe());
    }

    [Theory]
    [InlineData("BDAT\t5\tLAST")]
    [InlineData(" BDAT 5 LAST")]
    [InlineData("BDAT 5  LAST")]
    [InlineData("bdat 5 last ")]
    public async Task BdatAsync_BdatSpelledWithWhitespace_RelaysExactlyTheChunk(string line)
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("CHUNKING"));
        await harness.StartUpToRecipientAsync();

        // Act: "NOOP" right after the five octets is the next command, not part of the chunk.
        await harness.Client.SendAsync($"{line}\r\nhelloNOOP\r\n");
        var bdat = await harness.Client.ReadReplyAsync();
        var noop = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal("250", bdat[0][..3]);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        var backend = await harness.BackendAsync();
        Assert.Equal(["hello"], backend.Chunks);
        Assert.Equal("NOOP", backend.CommandLines[^1]);
        Assert.True(backend.Violations.Count == 0, backend.Describe());
    }

    [Theory]
    [InlineData("STARTTLS\t")]
    [InlineData(" STARTTLS")]
    [InlineData("\tstarttls")]
    public async Task StartTlsAsync_StartTlsSpelledWithWhitespace_IsInterceptedAndNeverRelayed(string line)
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Pipelining("STARTTLS"));
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync($"{line}\r\nNOOP\r\n");
        var starttls = await harness.Client.ReadReplyAsync();
        var noop = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["454 4.7.0 TLS not available"], starttls);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", "NOOP"], backend.CommandLines);
    }

    [Theory]
    [InlineData("AUTH\tLOGIN")]
    [InlineData(" AUTH LOGIN")]
    public async Task AuthAsync_AuthSpelledWithWhitespace_RelaysTheExchange(string line)
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN"), o => o.AllowCleartextAuth = true);
        await harness.StartAndEhloAsync();

        // Act: the answers are relayed as answers, never read as commands.
        await harness.Client.SendAsync($"{line}\r\n");
        var first = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("XCLIENT ADDR=10.0.0.1\r\n");
        var second = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("c2VjcmV0\r\n");
        var verdict = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["334 VXNlcm5hbWU6"], first);
        Assert.Equal(["334 UGFzc3dvcmQ6"], second);
        Assert.Equal(["235 2.7.0 Authentication successful"], verdict);
        var backend = await harness.BackendAsync();
        Assert.Equal(["XCLIENT ADDR=10.0.0.1", "c2VjcmV0"], backend.AuthAnswers);
        Assert.True(backend.Violations.Count == 0, backend.Describe());
    }

    [Fact]
    public async Task AuthAsync_ControlByteInAnswer_CancelsTheExchange()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN"), o => o.AllowCleartextAuth = true);
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync("AUTH LOGIN\r\n");
        await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("dXNl\0cg==\r\n");
        var cancelled = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["501 5.7.0 Authentication cancelled"], cancelled);
        var backend = await harness.BackendAsync();
        Assert.Equal(["*"], backend.AuthAnswers);
        Assert.DoesNotContain("dXNl", backend.ReceivedText, StringComparison.Ordinal);
    }
}
