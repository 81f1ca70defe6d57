using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Replies;

public sealed class ProtocolErrorReplyTests
{
    [Theory]
    [InlineData("554 SMTP synchronization error\r\n")]
    [InlineData("554 5.5.0 Error: SMTP protocol synchronization\r\n")]
    [InlineData("554 5.7.1 <bob@example.net>: Relay access denied\r\n")]
    [InlineData("503 5.5.1 Error: nested MAIL command\r\n")]
    [InlineData("503 sender already given\r\n")]
    [InlineData("500 unrecognized command\r\n")]
    [InlineData("501 5.1.7 Bad sender address syntax\r\n")]
    [InlineData("502 5.5.2 Error: command not recognized\r\n")]
    [InlineData("555 5.5.4 Unsupported option: SMTPUTF8\r\n")]
    [InlineData("550-5.7.1 first line\r\n550 5.5.0 the final line decides\r\n")]
    public void Is_ReplyObjectsToTheCommands_ReturnsTrue(string raw)
    {
        Assert.True(ProtocolErrorReply.Is(Bytes.Sequence(raw)));
    }

    [Theory]
    [InlineData("250 2.1.5 Ok\r\n")]
    [InlineData("550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown\r\n")]
    [InlineData("550 relay not permitted\r\n")]
    [InlineData("552 5.2.2 Mailbox full\r\n")]
    [InlineData("553 5.1.3 Bad recipient address syntax\r\n")]
    [InlineData("451 4.3.0 Error: queue file write error\r\n")]
    [InlineData("452 4.5.3 Error: too many recipients\r\n")]
    [InlineData("421 4.3.2 Service shutting down\r\n")]
    [InlineData("550-5.5.0 only the first line\r\n550 5.7.1 policy on the final line\r\n")]
    [InlineData("")]
    public void Is_OrdinaryReplyOrPolicy_ReturnsFalse(string raw)
    {
        Assert.False(ProtocolErrorReply.Is(Bytes.Sequence(raw)));
    }

    [Fact]
    public void Is_RawSplitAtEveryOffset_SameAnswer()
    {
        const string Raw = "550-first\r\n550 5.5.1 out of sequence\r\n";
        for (var cut = 0; cut <= Raw.Length; cut++)
        {
            Assert.True(ProtocolErrorReply.Is(Bytes.SplitAt(Raw, cut)));
        }
    }
}
