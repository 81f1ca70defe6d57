namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>Arguments of one tests/peers/lockstep-send.py run.</summary>
public sealed record LockstepSendOptions
{
    public string Host { get; init; } = "127.0.0.1";

    public required int Port { get; init; }

    public string Helo { get; init; } = "legacy.client.test";

    public string From { get; init; } = "sender@client.test";

    public required IReadOnlyList<string> To { get; init; }

    /// <summary>Messages per connection (one connection, no RSET between delivered messages).</summary>
    public int Messages { get; init; } = 1;

    /// <summary>Connections made one after the other.</summary>
    public int Connections { get; init; } = 1;

    /// <summary>Message id prefix: message m of connection c is "PREFIX-c-m", in Message-ID as &lt;PREFIX-c-m@lockstep.test&gt;.</summary>
    public required string MessageIdPrefix { get; init; }

    public string Subject { get; init; } = "lockstep";

    /// <summary>The exact body (LF or CRLF line ends; the script sends CRLF and dot-stuffs); null = generated lines.</summary>
    public string? Body { get; init; } = global::EarlyPipeProxy.EndToEnd.Tests.Infrastructure.Messages.WithDotsBody;

    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(60);
}
