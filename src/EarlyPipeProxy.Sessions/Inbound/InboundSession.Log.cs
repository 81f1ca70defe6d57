using System.Net;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Inbound;

// Exim-style, greppable lines: H= client, I= listener, B= backend, L= early pipelining, X= client TLS,
// BX= backend TLS, M/R/C counts, D= duration.
public sealed partial class InboundSession
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information,
        Message = "session H=[{ClientAddress}]:{ClientPort} I={Listener} B={Backend}{EarlyField}{TlsField}{BackendTlsField} M={Messages} R={Recipients} C={Commands} in={BytesIn} out={BytesOut} D={DurationSeconds}s end=\"{End}\"")]
    private static partial void LogSessionLine(ILogger logger, IPAddress clientAddress, int clientPort, string listener, IPEndPoint backend,
        string earlyField, string tlsField, string backendTlsField, int messages, int recipients, int commands, long bytesIn, long bytesOut, string durationSeconds, string end);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning,
        Message = "SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[{ClientAddress}]:{ClientPort} I={Listener} input=\"{Input}\"")]
    private static partial void LogEarlyInputRefused(ILogger logger, IPAddress clientAddress, int clientPort, string listener, string input);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning,
        Message = "backend B={Backend} unavailable for H=[{ClientAddress}]:{ClientPort} I={Listener}: {Reason}")]
    private static partial void LogBackendUnavailable(ILogger logger, IPEndPoint backend, IPAddress clientAddress, int clientPort, string listener, string reason);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning,
        Message = "message refused from H=[{ClientAddress}]:{ClientPort} I={Listener}: bare {What} in message data (SMTP smuggling protection); backend connection dropped")]
    private static partial void LogBareLineEnding(ILogger logger, IPAddress clientAddress, int clientPort, string listener, string what);

    [LoggerMessage(EventId = 104, Level = LogLevel.Warning,
        Message = "H=[{ClientAddress}]:{ClientPort} I={Listener}: {Octets} octets of cleartext after STARTTLS discarded (command injection attempt?)")]
    private static partial void LogInputAfterStartTls(ILogger logger, System.Net.IPAddress clientAddress, int clientPort, string listener, long octets);

    [LoggerMessage(EventId = 105, Level = LogLevel.Information,
        Message = "TLS handshake failed H=[{ClientAddress}]:{ClientPort} I={Listener}: {Reason}")]
    private static partial void LogClientHandshakeFailed(ILogger logger, System.Net.IPAddress clientAddress, int clientPort, string listener, string reason);

    private string _tlsField = string.Empty;

    private void LogSession(TimeSpan duration)
    {
        _metrics?.SessionEnded(new Telemetry.SessionSummary(
            _listener.Name,
            Telemetry.Direction.Inbound,
            _early switch { EarlyPipeUse.Used => "used", EarlyPipeUse.Advertised => "advertised", _ => "not_advertised" },
            _options.ImplicitTls ? "implicit" : _clientTls is not null || _tlsField.Length > 0 ? "starttls" : "none",
            Telemetry.SessionOutcomes.From(_end),
            _messages,
            _messagesRejected,
            _roundTrips.Saved,
            _clientRoundTripTime?.Invoke(),
            _bytesFromClient,
            _bytesToClient));
        if (!_logger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        var earlyField = _early switch
        {
            EarlyPipeUse.Used => " L*",
            EarlyPipeUse.Advertised => " L.",
            _ => string.Empty,
        };
        LogSessionLine(_logger, _clientEndPoint.Address, _clientEndPoint.Port, _listener.Name, _listener.BackendEndPoint, earlyField, _tlsField, _backendTlsField,
            _messages, _recipients, _commands, _bytesFromClient, _bytesToClient,
            duration.TotalSeconds.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture), _end);
    }
}
