using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Outbound;

// Exim-style, greppable lines: H= sender, I= listener, U= remote (upstream), L* early flight used, L. remote offers
// early pipelining and this session learnt or confirmed its reply, redo= why an early flight was redone in lockstep.
public sealed partial class OutboundSession
{
    [LoggerMessage(EventId = 300, Level = LogLevel.Information,
        Message = "outbound H=[{SenderAddress}]:{SenderPort} I={Listener} U={Remote}{EarlyField}{TlsField} M={Messages} R={Recipients} C={Commands} in={BytesIn} out={BytesOut} D={DurationSeconds}s{RedoField} end=\"{End}\"")]
    private static partial void LogSessionLine(ILogger logger, IPAddress senderAddress, int senderPort, string listener, IPEndPoint remote,
        string earlyField, string tlsField, int messages, int recipients, int commands, long bytesIn, long bytesOut, string durationSeconds, string redoField, string end);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning,
        Message = "remote U={Remote} unavailable for H=[{SenderAddress}]:{SenderPort} I={Listener}: {Reason}")]
    private static partial void LogRemoteUnavailable(ILogger logger, IPEndPoint remote, IPAddress senderAddress, int senderPort, string listener, string reason);

    [LoggerMessage(EventId = 302, Level = LogLevel.Information,
        Message = "early flight to U={Remote} for H=[{SenderAddress}]:{SenderPort} I={Listener} redone in lockstep: {Reason}")]
    private static partial void LogEarlyFlightRedone(ILogger logger, IPAddress senderAddress, int senderPort, string listener, IPEndPoint remote, string reason);

    [LoggerMessage(EventId = 303, Level = LogLevel.Warning,
        Message = "message refused from H=[{SenderAddress}]:{SenderPort} I={Listener}: bare {What} in message data (SMTP smuggling protection); remote connection dropped")]
    private static partial void LogBareLineEnding(ILogger logger, IPAddress senderAddress, int senderPort, string listener, string what);

    [LoggerMessage(EventId = 304, Level = LogLevel.Warning,
        Message = "TLS handshake with U={Remote} failed for H=[{SenderAddress}]:{SenderPort} I={Listener}: {Reason}")]
    private static partial void LogRemoteTlsFailed(ILogger logger, IPEndPoint remote, IPAddress senderAddress, int senderPort, string listener, string reason);

    private void LogSession(TimeSpan duration)
    {
        _metrics?.SessionEnded(new Telemetry.SessionSummary(
            _listener.Name,
            Telemetry.Direction.Outbound,
            _early switch { RemoteEarlyPipeUse.Used => "used", RemoteEarlyPipeUse.Offered => "advertised", _ => "not_advertised" },
            _tlsActive ? "starttls" : "none",
            Telemetry.SessionOutcomes.From(_end),
            _messages,
            _messagesRejected,
            _roundTrips.Saved,
            _remoteRoundTripTime,
            _bytesFromSender,
            _bytesToSender));
        if (!_logger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        var earlyField = _early switch
        {
            RemoteEarlyPipeUse.Used => " L*",
            RemoteEarlyPipeUse.Offered => " L.",
            _ => string.Empty,
        };
        var redoField = _redo is null ? string.Empty : $" redo=\"{_redo}\"";
        LogSessionLine(_logger, _senderEndPoint.Address, _senderEndPoint.Port, _listener.Name, _remoteEndPoint, earlyField, _tlsField,
            _messages, _recipients, _commands, _bytesFromSender, _bytesToSender,
            duration.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture), redoField, _end);
    }
}
