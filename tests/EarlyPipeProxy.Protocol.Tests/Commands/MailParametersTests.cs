using System.Text;
using EarlyPipeProxy.Protocol.Commands;

namespace EarlyPipeProxy.Protocol.Tests.Commands;

public sealed class MailParametersTests
{
    [Theory]
    [InlineData("MAIL FROM:<a@b.example> BODY=BINARYMIME", true)]
    [InlineData("MAIL FROM:<a@b.example> SIZE=10 body=binarymime\r\n", true)]
    [InlineData("MAIL FROM:<a@b.example>\tBODY=BINARYMIME\r\n", true)]
    [InlineData("MAIL FROM:<> BODY=BINARYMIME", true)]
    [InlineData("MAIL FROM:<a@b.example> BODY=8BITMIME", false)]
    [InlineData("MAIL FROM:<a@b.example> BODY=BINARYMIMEX", false)]
    [InlineData("MAIL FROM:<a@b.example> XBODY=BINARYMIME", false)]
    [InlineData("MAIL FROM:<a@b.example>", false)]
    public void DeclaresBinaryMime_OnlyTheWholeParameterAfterThePath(string line, bool expected)
        => Assert.Equal(expected, MailParameters.DeclaresBinaryMime(Encoding.ASCII.GetBytes(line)));
}
