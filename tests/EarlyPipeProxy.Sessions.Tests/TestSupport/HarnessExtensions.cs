namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

internal static class HarnessExtensions
{
    public const string Sender = "MAIL FROM:<alice@example.org>";
    public const string Recipient = "RCPT TO:<bob@example.net>";

    /// <summary>Banner, EHLO, MAIL, RCPT and DATA sent early; reads every reply up to the 354.</summary>
    public static async Task StartUpToDataAsync(this SessionHarness harness)
    {
        await harness.Client.SendAsync($"{SessionHarness.ClientEhlo}\r\n{Sender}\r\n{Recipient}\r\nDATA\r\n");
        harness.Start();
        Assert.Equal([FakeBackendOptions.FinalBannerLine], await harness.Client.ReadReplyAsync());
        Assert.StartsWith("250-", (await harness.Client.ReadReplyAsync())[0], StringComparison.Ordinal);
        Assert.Equal(["250 2.1.0 Ok"], await harness.Client.ReadReplyAsync());
        Assert.Equal(["250 2.1.5 Ok"], await harness.Client.ReadReplyAsync());
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], await harness.Client.ReadReplyAsync());
    }

    /// <summary>Banner, EHLO, MAIL and RCPT sent early; reads their replies.</summary>
    public static async Task StartUpToRecipientAsync(this SessionHarness harness)
    {
        await harness.Client.SendAsync($"{SessionHarness.ClientEhlo}\r\n{Sender}\r\n{Recipient}\r\n");
        harness.Start();
        Assert.Equal([FakeBackendOptions.FinalBannerLine], await harness.Client.ReadReplyAsync());
        Assert.StartsWith("250-", (await harness.Client.ReadReplyAsync())[0], StringComparison.Ordinal);
        Assert.Equal(["250 2.1.0 Ok"], await harness.Client.ReadReplyAsync());
        Assert.Equal(["250 2.1.5 Ok"], await harness.Client.ReadReplyAsync());
    }
}
