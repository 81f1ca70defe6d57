using System.Net;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Sessions.Inbound;

namespace EarlyPipeProxy.Sessions.Tests.Inbound;

/// <summary>The C library path itself, on an answer every Linux host has: /etc/hosts' loopback entry.</summary>
public sealed class SystemHostNameLookupTests
{
    [SkippableFact]
    public void Lookup_Loopback_NameFromTheHostsFileVerified()
    {
        Skip.IfNot(SystemHostNameLookup.UsesCLibrary, "the C library is called directly only on 64-bit Linux");
        var expected = File.ReadLines("/etc/hosts")
            .Select(l => l.Split('#')[0].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            .FirstOrDefault(f => f.Length > 1 && f[0] == "127.0.0.1")?[1];
        Skip.If(expected is null, "/etc/hosts has no 127.0.0.1 line");

        var names = SystemHostNameLookup.Lookup(IPAddress.Loopback);

        Assert.Equal(ClientHostNames.Verified(expected!), names);
    }

    [SkippableFact]
    public void Lookup_Ipv4MappedLoopback_SameAsIpv4()
    {
        Skip.IfNot(SystemHostNameLookup.UsesCLibrary, "the C library is called directly only on 64-bit Linux");

        Assert.Equal(SystemHostNameLookup.Lookup(IPAddress.Loopback), SystemHostNameLookup.Lookup(IPAddress.Loopback.MapToIPv6()));
    }
}
