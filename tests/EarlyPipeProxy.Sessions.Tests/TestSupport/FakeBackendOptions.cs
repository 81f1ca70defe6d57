namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

public enum ProxyHeaderKind
{
    None,
    V1,
    V2,
}

/// <summary>The script of a <see cref="FakeBackend"/>: what it offers and where it misbehaves.</summary>
public sealed class FakeBackendOptions
{
    public const string HostName = "fake.backend";
    public const string FinalBannerLine = "220 fake.backend ESMTP ready";

    /// <summary>Greeting lines, e.g. a "220-" teaser and the final "220 " line.</summary>
    public IReadOnlyList<string> Banner { get; set; } = [FinalBannerLine];

    /// <summary>Pause after each banner line but the last (postscreen's teaser).</summary>
    public TimeSpan BannerLinePause { get; set; } = TimeSpan.FromMilliseconds(150);

    /// <summary>Pause before the final greeting line, so that input sent too early is there to be seen.</summary>
    public TimeSpan GreetingDelay { get; set; } = TimeSpan.FromMilliseconds(40);

    /// <summary>Never sends its greeting.</summary>
    public bool NeverGreet { get; set; }

    /// <summary>EHLO keywords (with parameters) in order. Without PIPELINING the backend is lockstep.</summary>
    public IList<string> Keywords { get; set; } = ["SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES"];

    public bool IsLockstep => !Keywords.Any(k => k.Equals("PIPELINING", StringComparison.OrdinalIgnoreCase));

    /// <summary>MAIL/RCPT address (without brackets) → the reply line to give instead of 250.</summary>
    public IDictionary<string, string> Rejections { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>On receiving this verb: never reply again.</summary>
    public string? StallOn { get; set; }

    /// <summary>On receiving this verb: close the connection without replying.</summary>
    public string? CloseOn { get; set; }

    /// <summary>
    /// Postfix's smtpd_timeout: no command for this long after a reply, and the backend says <see cref="IdleReply"/>
    /// and, with <see cref="IdleCloses"/>, closes the connection. Once per connection.
    /// </summary>
    public TimeSpan? IdleTimeout { get; set; }

    /// <summary>What <see cref="IdleTimeout"/> makes the backend say (Postfix's own words by default); null: nothing.</summary>
    public string? IdleReply { get; set; } = IdleTimeoutReply;

    /// <summary>Whether the backend closes after <see cref="IdleTimeout"/>; false for one that says something and stays.</summary>
    public bool IdleCloses { get; set; } = true;

    /// <summary>Postfix's reply when smtpd_timeout passes (smtpd.c), with the fake's name.</summary>
    public const string IdleTimeoutReply = "421 4.4.2 " + HostName + " Error: timeout exceeded";

    /// <summary>The reply to the connection's first XCLIENT instead of the new 220 (a backend whose offer changed, say).</summary>
    public string? FirstXclientReply { get; set; }

    /// <summary>On receiving this verb: reply 451 instead.</summary>
    public string? Fail451On { get; set; }

    /// <summary>
    /// Verb → the reply line given instead of the usual handling: the command is only recorded, so a DATA answered
    /// here takes no body, and whatever follows it is read as commands.
    /// </summary>
    public IDictionary<string, string> VerbReplies { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Keeps the transaction as a real server does: a second MAIL before RSET, EHLO or the end of a message gets
    /// Postfix's 503, so a transaction the session left open at the remote shows up as refused mail.
    /// </summary>
    public bool TracksTransaction { get; set; }

    /// <summary>
    /// Input before the final greeting line is legal, as for a server that offers PIPECONNECT (draft-harris-early-pipe):
    /// it is kept in <see cref="FakeBackend.ReceivedBeforeGreeting"/> instead of being recorded as a violation.
    /// </summary>
    public bool AcceptsEarlyInput { get; set; }

    /// <summary>With <see cref="AcceptsEarlyInput"/>: early input arrives, and the connection is closed without a greeting.</summary>
    public bool CloseOnEarlyInput { get; set; }

    /// <summary>
    /// When set, the verdict on a message (the reply to its end of data, or to BDAT LAST) waits for this task, as a
    /// server's slow content checks make it wait; <see cref="FakeBackend.EndOfDataReceived"/> says when the end came.
    /// </summary>
    public Task? HoldVerdictUntil { get; set; }

    /// <summary>
    /// At the end of the connection's message number this (1: its first), close the connection instead of giving a
    /// verdict: a server lost after the end of data (DATA only).
    /// </summary>
    public int? CloseAtEndOfMessage { get; set; }

    /// <summary>When set, the reply to RSET waits for this task (a remote slow to answer a warm connection's RSET).</summary>
    public Task? HoldResetUntil { get; set; }

    /// <summary>Close the connection once this many octets of a DATA body have arrived.</summary>
    public int? CloseAfterBodyBytes { get; set; }

    /// <summary>A PROXY protocol header expected before the greeting.</summary>
    public ProxyHeaderKind ExpectProxyHeader { get; set; }

    /// <summary>
    /// With a certificate (and its key) the backend offers STARTTLS in its EHLO reply until TLS is active, answers
    /// STARTTLS with 220 and runs the server side of the handshake.
    /// </summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? StartTlsCertificate { get; set; }

    /// <summary>With a certificate (and its key) the backend is TLS on connect: the handshake first, then the greeting.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? TlsOnConnectCertificate { get; set; }

    /// <summary>
    /// Over TLS: the peer's close_notify does not end the conversation by itself; the backend goes on reading until
    /// the connection closes (as a server does that answers only to the TCP connection's end).
    /// </summary>
    public bool WaitForConnectionEndAfterCloseNotify { get; set; }

    /// <summary>The 334 challenges for AUTH, one client answer each.</summary>
    public IReadOnlyList<string> AuthChallenges { get; set; } = ["VXNlcm5hbWU6", "UGFzc3dvcmQ6"];

    public static FakeBackendOptions Lockstep(params string[] extraKeywords)
        => new() { Keywords = ["SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES", .. extraKeywords] };

    public static FakeBackendOptions Pipelining(params string[] extraKeywords)
        => new() { Keywords = ["SIZE 10240000", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", .. extraKeywords] };

    /// <summary>A server that offers early pipelining (PIPECONNECT with PIPELINING) and takes input before its banner.</summary>
    public static FakeBackendOptions EarlyPipelining(params string[] extraKeywords)
    {
        var options = Pipelining(["PIPECONNECT", .. extraKeywords]);
        options.AcceptsEarlyInput = true;
        return options;
    }
}
