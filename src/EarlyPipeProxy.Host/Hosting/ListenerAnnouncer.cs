using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Logging;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>Logs one line per listener once Kestrel has bound them all (a stop is logged by <see cref="GracefulStop"/>).</summary>
public sealed partial class ListenerAnnouncer(
    IReadOnlyList<InboundListener> listeners, IReadOnlyList<OutboundListener> outboundListeners, IHostApplicationLifetime lifetime, ILogger<ListenerAnnouncer> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            foreach (var listener in listeners.Where(l => l.Problem is null))
            {
                var options = listener.Options;
                LogListening(logger, listener.Name, listener.ListenEndPoint.ToString(), listener.BackendEndPoint.ToString(),
                    options.Backend.ClientIdentity.ToString(), options.PipeConnect.Keyword, string.Join(',', options.PipeConnect.AdvertiseHosts ?? ["*"]));
                if (options.AcceptProxyHeaderFrom is { Length: > 0 } balancers)
                {
                    LogProxyHeaders(logger, listener.Name, string.Join(',', balancers), options.RequireProxyHeader ? "required" : "optional");
                }

                if (listener.Certificates is { } certificates)
                {
                    LogTls(logger, listener.Name, options.ImplicitTls ? "TLS on connect" : "STARTTLS", certificates.Subject);
                    if (!(options.ImplicitTls && options.Backend.ClientIdentity == Sessions.Configuration.ClientIdentityMode.ProxyV2))
                    {
                        LogTlsNotForwarded(logger, listener.Name, options.Backend.ClientIdentity.ToString());
                    }
                }
            }

            foreach (var listener in outboundListeners.Where(l => l.Problem is null))
            {
                var options = listener.Options;
                LogListeningOutbound(logger, listener.Name, listener.ListenEndPoint.ToString(),
                    listener.Upstream?.ToString() ?? "each connection's original destination",
                    options.EarlyPipelining ? "early pipelining toward remotes that offer it" : "no early pipelining");
            }
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = LogEventIds.ListeningInbound, Level = LogLevel.Information,
        Message = "listening I={Listener} on {Listen}: backend {Backend} (client identity {Identity}), {Keyword} offered to {AdvertiseHosts}")]
    private static partial void LogListening(ILogger logger, string listener, string listen, string backend, string identity, string keyword, string advertiseHosts);

    [LoggerMessage(EventId = LogEventIds.ListenerProxyHeaders, Level = LogLevel.Information,
        Message = "listening I={Listener}: connections from {Balancers} begin with a PROXY header ({Requirement}); its client is the session's")]
    private static partial void LogProxyHeaders(ILogger logger, string listener, string balancers, string requirement);

    [LoggerMessage(EventId = LogEventIds.ListeningOutbound, Level = LogLevel.Information, Message = "listening I={Listener} on {Listen}: outbound to {Upstream}, {Early}")]
    private static partial void LogListeningOutbound(ILogger logger, string listener, string listen, string upstream, string early);

    [LoggerMessage(EventId = LogEventIds.ListenerTls, Level = LogLevel.Information, Message = "TLS I={Listener}: {Mode} with {Subject}")]
    private static partial void LogTls(ILogger logger, string listener, string mode, string subject);

    // XCLIENT has no TLS attributes, and a PROXY header leaves before any STARTTLS: the backend will record these
    // sessions as cleartext. Only PROXY v2 on a TLS-on-connect listener carries the SSL TLV.
    [LoggerMessage(EventId = LogEventIds.ListenerTlsNotForwarded, Level = LogLevel.Information,
        Message = "TLS I={Listener}: the backend is not told about client TLS ({Identity} cannot carry it); it will log these sessions as cleartext, the X= field here is the record")]
    private static partial void LogTlsNotForwarded(ILogger logger, string listener, string identity);
}
