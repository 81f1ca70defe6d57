using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Inbound;

/// <summary>
/// What the session tells a Postfix-like backend about the client: every attribute its restrictions use, as far as
/// its EHLO offers them, in commands Postfix accepts, answered one at a time.
/// </summary>
public sealed class XclientIntroductionTests
{
    // Postfix 3.7 with SASL: the XCLIENT line of its EHLO reply to an authorized proxy.
    private const string Postfix37Xclient = "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT";

    private static ClientNameResolver Answering(ClientHostNames names) =>
        new(new ClientNameLookupOptions { Threads = 1, MaxQueued = 4 }, _ => names);

    private static async Task<IReadOnlyList<string>> RunToMailAsync(SessionHarness harness)
    {
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\nMAIL FROM:<alice@example.org>\r\n");
        harness.Start();
        Assert.Equal([FakeBackendOptions.FinalBannerLine], await harness.Client.ReadReplyAsync());
        await harness.Client.ReadReplyAsync();
        Assert.Equal(["250 2.1.0 Ok"], await harness.Client.ReadReplyAsync());
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        return backend.CommandLines;
    }

    private static void LookUpNames(InboundListenerOptions options)
    {
        options.Backend.ClientIdentity = ClientIdentityMode.Xclient;
        options.Backend.LookupClientName = true;
    }

    [Fact]
    public async Task Postfix37Offer_SendsNamesAndTheAddressTheClientConnectedTo()
    {
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(Postfix37Xclient), LookUpNames,
            clientNames: Answering(ClientHostNames.Unverified("ptr.client.example", failedForNow: false)));

        var commands = await RunToMailAsync(harness);

        Assert.Equal(
            [
                "EHLO proxy.test",
                "XCLIENT ADDR=127.0.0.7 PORT=40007 NAME=[UNAVAILABLE] REVERSE_NAME=ptr.client.example DESTADDR=127.0.0.1 DESTPORT=2025",
                "EHLO client.example",
                "MAIL FROM:<alice@example.org>",
            ],
            commands);
    }

    [Fact]
    public async Task LongNames_TwoXclientCommandsEachAnsweredBeforeTheNext_AddrLast()
    {
        var longName = string.Join('.', Enumerable.Repeat(new string('a', 63), 4));
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(Postfix37Xclient), LookUpNames,
            clientNames: Answering(ClientHostNames.Verified(longName)));

        var commands = await RunToMailAsync(harness);

        Assert.Equal(
            [
                "EHLO proxy.test",
                $"XCLIENT REVERSE_NAME={longName} DESTADDR=127.0.0.1 DESTPORT=2025",
                $"XCLIENT ADDR=127.0.0.7 PORT=40007 NAME={longName}",
                "EHLO client.example",
                "MAIL FROM:<alice@example.org>",
            ],
            commands);
        Assert.All(commands, c => Assert.True(c.Length + 2 <= XclientCommand.MaxLineLength));
    }

    [Fact]
    public async Task StalledLookup_TempunavailForBothNames_SessionGoesOn()
    {
        using var never = new ManualResetEventSlim();
        var stalled = new ClientNameResolver(new ClientNameLookupOptions { Threads = 1, MaxQueued = 4 }, _ =>
        {
            never.Wait();
            return ClientHostNames.None;
        });
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(Postfix37Xclient), LookUpNames, clientNames: stalled);

        var commands = await RunToMailAsync(harness);
        never.Set();

        Assert.Contains("XCLIENT ADDR=127.0.0.7 PORT=40007 NAME=[TEMPUNAVAIL] REVERSE_NAME=[TEMPUNAVAIL] DESTADDR=127.0.0.1 DESTPORT=2025", commands);
    }

    [Fact]
    public async Task LoginOffered_NoLoginSent()
    {
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(Postfix37Xclient), LookUpNames,
            clientNames: Answering(ClientHostNames.Verified("client.example")));

        var commands = await RunToMailAsync(harness);

        var xclient = Assert.Single(commands, c => c.StartsWith("XCLIENT", StringComparison.Ordinal));
        Assert.DoesNotContain("LOGIN", xclient, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task XclientWithoutAddr_Replies421AndSendsNothingOfTheClients()
    {
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("XCLIENT NAME HELO"), LookUpNames,
            clientNames: Answering(ClientHostNames.None));
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");

        harness.Start();
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        Assert.Equal("421 4.4.2 Service not available: backend connection failed\r\n", everything);
        Assert.Equal("EHLO proxy.test\r\n", (await harness.BackendAsync()).ReceivedText);
    }
}
