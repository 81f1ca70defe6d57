using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Capabilities;

public sealed class SmtpKeywordsTests
{
    [Fact]
    public void Keywords_AreFoundInARealReply()
    {
        const string Reply =
            "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN\r\n250-ENHANCEDSTATUSCODES\r\n" +
            "250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n250-XCLIENT NAME ADDR\r\n" +
            "250 XFORWARD NAME ADDR\r\n";
        Assert.True(EhloCapabilities.TryParse(Bytes.Sequence(Reply), out var capabilities));

        string[] all =
        [
            SmtpKeywords.Pipelining, SmtpKeywords.Size, SmtpKeywords.Auth, SmtpKeywords.EnhancedStatusCodes,
            SmtpKeywords.EightBitMime, SmtpKeywords.BinaryMime, SmtpKeywords.Chunking, SmtpKeywords.SmtpUtf8,
            SmtpKeywords.StartTls, SmtpKeywords.Xclient, SmtpKeywords.Xforward,
        ];
        Assert.All(all, keyword => Assert.True(capabilities!.Contains(keyword), keyword));
        Assert.Equal(all, capabilities!.Keywords.Select(k => k.Name));
    }
}
