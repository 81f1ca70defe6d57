using System.IO.Pipelines;
using System.Net;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Telemetry;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// Reads the PROXY header a load balancer in <see cref="InboundListenerOptions.AcceptProxyHeaderFrom"/> sends before
/// anything else, before a session exists: nothing is written to the connection (no banner, no backend connection)
/// until it has been read. Only called for a connection from a listed balancer; a header from anyone else is refused
/// by the session before its banner (<see cref="ProxyProtocolHeaderParser.StartsWithSignature"/>).
/// </summary>
/// <remarks>
/// A malformed header, one not complete within <see cref="SessionTimeouts.ProxyHeader"/>, and (with
/// <see cref="InboundListenerOptions.RequireProxyHeader"/>) octets that do not start one end the connection without a
/// word, logged: a balancer that speaks the protocol wrongly must not get its client an SMTP session, and an SMTP
/// reply would reach the client as if from its server. With RequireProxyHeader false, a listed address that sends
/// octets that cannot start a header, or sends nothing for <see cref="DirectClientWait"/> (a real client waits for
/// the banner; a balancer sends its header at once), is served as a direct client, its octets left for the session.
/// </remarks>
public static class ProxyHeaderReceiver
{
    /// <summary>
    /// With RequireProxyHeader false: how long a listed address may stay silent before it is taken for a direct client
    /// waiting for the banner (capped by Timeouts:ProxyHeader). A balancer's header is in its first segment.
    /// </summary>
    public static readonly TimeSpan DirectClientWait = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Reads the header from <paramref name="input"/> and consumes exactly its octets. Null when the connection is to be
    /// closed (already logged and counted); otherwise who the session serves.
    /// </summary>
    /// <param name="peer">The connection's remote end: the balancer.</param>
    /// <param name="local">The connection's local end.</param>
    /// <param name="aborted">The process's hard stop.</param>
    public static async ValueTask<ProxyHeaderReception?> ReceiveAsync(PipeReader input, IPEndPoint peer, IPEndPoint local, InboundListenerSettings listener,
        ILogger logger, ProxyMetrics? metrics = null, TimeProvider? time = null, CancellationToken aborted = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentNullException.ThrowIfNull(logger);
        time ??= TimeProvider.System;
        var options = listener.Options;
        var required = options.RequireProxyHeader;
        var headerTime = options.Timeouts.ProxyHeader;
        using var headerDeadline = new CancellationTokenSource(headerTime, time);
        var silenceTime = headerTime < DirectClientWait ? headerTime : DirectClientWait;
        using var silence = required ? null : new CancellationTokenSource(silenceTime, time);
        var waits = CancellationTokenSource.CreateLinkedTokenSource(aborted, headerDeadline.Token, silence?.Token ?? default);
        var watchingSilence = silence is not null;
        var context = new Context(peer, local, listener.Name, logger, metrics);
        try
        {
            while (true)
            {
                ReadResult read;
                try
                {
                    read = await input.ReadAsync(waits.Token);
                }
                catch (OperationCanceledException)
                {
                    if (aborted.IsCancellationRequested)
                    {
                        return context.ClosedByBalancer("the proxy is stopping");
                    }

                    if (headerDeadline.IsCancellationRequested || !input.TryRead(out read))
                    {
                        return watchingSilence && silence!.IsCancellationRequested && !headerDeadline.IsCancellationRequested
                            ? context.Direct("nothing sent within " + FormatSeconds(silenceTime))
                            : context.Refuse(ProxyHeaderOutcome.Timeout, $"no complete header within {FormatSeconds(headerTime)} (Timeouts:ProxyHeader)");
                    }

                    // The silence ran out as octets arrived: they decide, below.
                }

                var buffer = read.Buffer;
                var header = ProxyProtocolHeaderParser.Parse(buffer);
                switch (header.Status)
                {
                    case ProxyHeaderStatus.Proxied:
                        input.AdvanceTo(buffer.GetPosition(header.Length));
                        return context.Accept(header);
                    case ProxyHeaderStatus.Local:
                        input.AdvanceTo(buffer.GetPosition(header.Length));
                        return context.Accept(header);
                    case ProxyHeaderStatus.Invalid:
                        input.AdvanceTo(buffer.Start);
                        return context.Refuse(ProxyHeaderOutcome.Malformed, $"malformed: {header.Problem}");
                    case ProxyHeaderStatus.NotAHeader:
                        // Nothing consumed: a direct client's octets (an early EHLO, a TLS hello) are the session's.
                        var start = Printable.Of(buffer, 64);
                        input.AdvanceTo(buffer.Start);
                        return required
                            ? context.Refuse(ProxyHeaderOutcome.Missing, $"no PROXY header (RequireProxyHeader), input=\"{start}\"")
                            : context.Direct("no PROXY header, input=\"" + start + "\"");
                }

                if (read.IsCompleted)
                {
                    input.AdvanceTo(buffer.Start);
                    return context.ClosedByBalancer(buffer.IsEmpty ? "closed before sending anything" : "closed before its header was complete");
                }

                // Incomplete: wait for more, under the header's own deadline only once something came.
                input.AdvanceTo(buffer.Start, buffer.End);
                if (watchingSilence && !buffer.IsEmpty)
                {
                    watchingSilence = false;
                    waits.Dispose();
                    waits = CancellationTokenSource.CreateLinkedTokenSource(aborted, headerDeadline.Token);
                }
            }
        }
        finally
        {
            waits.Dispose();
        }
    }

    private static string FormatSeconds(TimeSpan span) => span.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) + "s";

    /// <summary>The connection being decided, for the outcome's log line and metric.</summary>
    private sealed class Context(IPEndPoint peer, IPEndPoint local, string listener, ILogger logger, ProxyMetrics? metrics)
    {
        public ProxyHeaderReception Accept(ProxyHeader header)
        {
            if (header.Status == ProxyHeaderStatus.Local)
            {
                metrics?.ProxyHeader(listener, ProxyHeaderOutcome.Local);
                ProxyHeaderLog.Received(logger, peer.Address, peer.Port, listener,
                    $"v{header.Version} {(header.Version == 1 ? "UNKNOWN" : "LOCAL")}: the balancer's own connection, served as its address");
                return new ProxyHeaderReception(peer, local, ProxyHeaderOutcome.Local);
            }

            metrics?.ProxyHeader(listener, ProxyHeaderOutcome.Proxied);
            var client = header.Source!;
            ProxyHeaderLog.Received(logger, peer.Address, peer.Port, listener, $"v{header.Version} client [{client.Address}]:{client.Port} to {header.Destination}");
            return new ProxyHeaderReception(client, header.Destination!, ProxyHeaderOutcome.Proxied);
        }

        public ProxyHeaderReception Direct(string why)
        {
            metrics?.ProxyHeader(listener, ProxyHeaderOutcome.Direct);
            ProxyHeaderLog.Received(logger, peer.Address, peer.Port, listener, why + "; served as a direct client (RequireProxyHeader false)");
            return new ProxyHeaderReception(peer, local, ProxyHeaderOutcome.Direct);
        }

        public ProxyHeaderReception? Refuse(string outcome, string reason)
        {
            metrics?.ProxyHeader(listener, outcome);
            ProxyHeaderLog.Refused(logger, peer.Address, peer.Port, listener, reason);
            return null;
        }

        /// <summary>The balancer went away (or the proxy is stopping): its doing, not a fault to warn about.</summary>
        public ProxyHeaderReception? ClosedByBalancer(string reason)
        {
            metrics?.ProxyHeader(listener, ProxyHeaderOutcome.Closed);
            ProxyHeaderLog.ClosedByBalancer(logger, peer.Address, peer.Port, listener, reason);
            return null;
        }
    }
}
