namespace EarlyPipeProxy.Sessions.Configuration;

public sealed class SessionTimeouts
{
    public TimeSpan BackendConnect { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Reverse lookup of the client for XCLIENT NAME=; on timeout the name is [TEMPUNAVAIL].</summary>
    public TimeSpan ClientNameLookup { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Wait for the backend's final greeting line (postscreen holds its "220-" teaser for seconds).</summary>
    public TimeSpan Banner { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The time the peer has to send a whole command line (RFC 5321 §4.5.3.2.7: 5 minutes), counted over the waits for
    /// it: one byte every few seconds does not extend it (Postfix's smtpd_per_request_deadline).
    /// </summary>
    public TimeSpan Command { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The time the peer has for a message body or BDAT chunk beyond what <see cref="MinDataRate"/> earns it, counted
    /// over the waits for it (RFC 5321 §4.5.3.2.6: 3 minutes per block).
    /// </summary>
    public TimeSpan Data { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Octets per second a message transfer must keep up: every octet received adds 1/MinDataRate s to the
    /// transfer's <see cref="Data"/> time (Postfix's smtpd_min_data_rate, same default). Slower ends the session
    /// with 421 4.4.2 and the message never reaches its end of data upstream.
    /// </summary>
    public int MinDataRate { get; set; } = 500;

    /// <summary>
    /// A session's whole life: past it, the next wait for a command is cut with 421 4.4.2 (a temporary failure, so the
    /// peer reconnects). An hour is far more than a legitimate session needs, and bounds how long a peer that keeps
    /// every other limit (a NOOP every few minutes) can hold a connection slot and a backend process.
    /// </summary>
    public TimeSpan Session { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Wait for a backend reply (RFC 5321 §4.5.3.2.6: 10 minutes for the end-of-data reply).</summary>
    public TimeSpan BackendReply { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A TLS handshake, with the client or with the backend.</summary>
    public TimeSpan TlsHandshake { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Inbound only: the whole PROXY header from a load balancer in <see cref="InboundListenerOptions.AcceptProxyHeaderFrom"/>,
    /// from the accept to its last octet. A balancer sends it at once; past this the connection is closed without a word.
    /// </summary>
    public TimeSpan ProxyHeader { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Throws a <see cref="FormatException"/> naming <paramref name="what"/> and the key when a value cannot work.</summary>
    public void Validate(string what)
    {
        (string Key, TimeSpan Value)[] spans =
        [
            (nameof(BackendConnect), BackendConnect), (nameof(ClientNameLookup), ClientNameLookup), (nameof(Banner), Banner),
            (nameof(Command), Command), (nameof(Data), Data), (nameof(BackendReply), BackendReply),
            (nameof(TlsHandshake), TlsHandshake), (nameof(Session), Session), (nameof(ProxyHeader), ProxyHeader),
        ];
        foreach (var (key, value) in spans)
        {
            if (value <= TimeSpan.Zero)
            {
                throw new FormatException($"{what}: Timeouts:{key} must be positive (it is {value}).");
            }
        }

        if (MinDataRate < 1)
        {
            throw new FormatException($"{what}: Timeouts:MinDataRate must be at least 1 octet per second (it is {MinDataRate}).");
        }

        if (Session < Command)
        {
            throw new FormatException($"{what}: Timeouts:Session ({Session}) must not be shorter than Timeouts:Command ({Command}).");
        }
    }
}
