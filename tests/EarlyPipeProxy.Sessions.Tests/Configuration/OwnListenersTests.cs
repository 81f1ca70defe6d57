using System.Net;
using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Sessions.Tests.Configuration;

/// <summary>An original destination that is one of the proxy's own listeners would loop (issue 11 item 12).</summary>
public sealed class OwnListenersTests
{
    private static readonly OwnListeners Listening = new(
    [
        IPEndPoint.Parse("127.0.0.1:2525"),
        IPEndPoint.Parse("0.0.0.0:25"),
        IPEndPoint.Parse("[::]:587"),
        IPEndPoint.Parse("192.0.2.10:2526"),
    ]);

    [Theory]
    [InlineData("127.0.0.1:2525", true)]
    [InlineData("127.0.0.2:2525", true)]
    [InlineData("[::1]:2525", true)]
    [InlineData("[::ffff:127.0.0.1]:2525", true)]
    [InlineData("198.51.100.7:25", true)]
    [InlineData("[2001:db8::1]:587", true)]
    [InlineData("192.0.2.10:2526", true)]
    [InlineData("192.0.2.11:2526", false)]
    [InlineData("198.51.100.7:2525", false)]
    [InlineData("198.51.100.7:587", true)]
    [InlineData("198.51.100.7:465", false)]
    public void Contains_a_destination_exactly_when_one_of_the_listeners_answers_there(string destination, bool loops)
    {
        Assert.Equal(loops, Listening.Contains(IPEndPoint.Parse(destination)));
    }
}
