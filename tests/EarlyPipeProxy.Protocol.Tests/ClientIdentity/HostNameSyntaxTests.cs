using EarlyPipeProxy.Protocol.ClientIdentity;

namespace EarlyPipeProxy.Protocol.Tests.ClientIdentity;

/// <summary>Postfix's valid_hostname() rules: what it takes as a client name from its own lookup and from XCLIENT.</summary>
public sealed class HostNameSyntaxTests
{
    [Theory]
    [InlineData("mail.example.com")]
    [InlineData("localhost")]
    [InlineData("a")]
    [InlineData("host_with_underscore.example")]
    [InlineData("x-1.example")]
    [InlineData("1host.example")]
    [InlineData("123.example")]
    [InlineData("MiXeD.Example")]
    public void IsValid_NamesPostfixTakes(string name)
    {
        Assert.True(HostNameSyntax.IsValid(name));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("192.0.2.1")]
    [InlineData("123")]
    [InlineData(".example")]
    [InlineData("example.")]
    [InlineData("a..b")]
    [InlineData("-a.example")]
    [InlineData("a-.example")]
    [InlineData("a b")]
    [InlineData("a\r\nb")]
    [InlineData("[UNAVAILABLE]")]
    [InlineData("caf\u00e9")]
    [InlineData("a+b")]
    [InlineData("a=b")]
    [InlineData("2001:db8::1")]
    public void IsValid_NamesPostfixRefuses(string? name)
    {
        Assert.False(HostNameSyntax.IsValid(name));
    }

    [Fact]
    public void IsValid_Lengths_LabelAtMost63_NameAtMost255()
    {
        var label63 = new string('a', 63);
        Assert.True(HostNameSyntax.IsValid(label63));
        Assert.False(HostNameSyntax.IsValid(label63 + "a"));

        var name255 = string.Join('.', Enumerable.Repeat(label63, 4));
        Assert.Equal(255, name255.Length);
        Assert.True(HostNameSyntax.IsValid(name255));
        Assert.False(HostNameSyntax.IsValid(name255 + "a"));
        Assert.False(HostNameSyntax.IsValid("b." + name255));
    }
}
