using EarlyPipeProxy.Protocol.Commands;

namespace EarlyPipeProxy.Protocol.Tests.Commands;

public sealed class PipeliningRulesTests
{
    [Theory]
    [InlineData(SmtpVerb.Ehlo)]
    [InlineData(SmtpVerb.Helo)]
    [InlineData(SmtpVerb.Data)]
    [InlineData(SmtpVerb.Vrfy)]
    [InlineData(SmtpVerb.Expn)]
    [InlineData(SmtpVerb.Turn)]
    [InlineData(SmtpVerb.Etrn)]
    [InlineData(SmtpVerb.Quit)]
    [InlineData(SmtpVerb.Noop)]
    [InlineData(SmtpVerb.StartTls)]
    [InlineData(SmtpVerb.Auth)]
    [InlineData(SmtpVerb.Xclient)]
    [InlineData(SmtpVerb.Xforward)]
    [InlineData(SmtpVerb.Unknown)]
    [InlineData(SmtpVerb.Help)]
    public void EndsGroup_SynchronisingVerb_ReturnsTrue(SmtpVerb verb)
    {
        Assert.True(PipeliningRules.EndsGroup(verb));
    }

    [Theory]
    [InlineData(SmtpVerb.Mail)]
    [InlineData(SmtpVerb.Rcpt)]
    [InlineData(SmtpVerb.Rset)]
    [InlineData(SmtpVerb.Bdat)]
    public void EndsGroup_PipelinableVerb_ReturnsFalse(SmtpVerb verb)
    {
        Assert.False(PipeliningRules.EndsGroup(verb));
    }

    [Fact]
    public void EndsGroup_EveryVerb_OnlyMailRcptRsetBdatArePipelinable()
    {
        var pipelinable = Enum.GetValues<SmtpVerb>().Where(v => !PipeliningRules.EndsGroup(v)).ToArray();

        Assert.Equal([SmtpVerb.Mail, SmtpVerb.Rcpt, SmtpVerb.Bdat, SmtpVerb.Rset], pipelinable);
    }

    [Fact]
    public void EndsGroup_UndefinedEnumValue_ReturnsTrue()
    {
        // A verb added later without a decision here must not be pipelined by accident.
        Assert.True(PipeliningRules.EndsGroup((SmtpVerb)999));
    }
}
