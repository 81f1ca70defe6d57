using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Auth;

/// <summary>
/// AUTH relayed (RFC 4954), one design for both directions: after the upstream's 334 the peer's answers go to the
/// upstream line by line and its replies come back, until one is not 334. An answer is never read as a command,
/// whatever its letters spell ("QUIT" is base64), and never logged; one the proxy will not relay (too long, a bare
/// line ending, a control byte) cancels the exchange ("*", RFC 4954 §4) and the upstream says so.
/// </summary>
public static class SaslExchange
{
    /// <summary>
    /// Relays the exchange that <paramref name="firstCode"/> opened. <paramref name="relayReply"/> is the session's
    /// way of delivering the upstream's next reply to the peer, returning its code. Returns the last code, or null
    /// when the peer left during the exchange.
    /// </summary>
    public static async ValueTask<int?> RelayAsync(DownstreamChannel peer, UpstreamChannel upstream, int firstCode, Func<ValueTask<int>> relayReply)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(upstream);
        ArgumentNullException.ThrowIfNull(relayReply);
        var code = firstCode;
        while (code == ReplyCode.AuthChallenge)
        {
            var answer = await peer.ReadCommandAsync(sasl: true);
            switch (answer.Status)
            {
                case CommandReadStatus.Command when SmtpCommandParser.ContainsControlByte(answer.Line):
                    // Base64 has no control bytes; a NUL would cut the answer short for the upstream (a C string
                    // in Postfix), so it is cancelled like an answer too long.
                    peer.Consume();
                    SmtpCommandWriter.WriteAuthCancel(upstream.Output);
                    break;
                case CommandReadStatus.Command:
                    upstream.Write(answer.LineWithEnding);
                    peer.Consume();
                    break;
                case CommandReadStatus.Woken when !peer.SettledOver:
                    // A graceful stop waits for the exchange to end.
                    continue;
                case CommandReadStatus.Closed:
                case CommandReadStatus.Woken:
                    return null;
                default:
                    SmtpCommandWriter.WriteAuthCancel(upstream.Output);
                    break;
            }

            code = await relayReply();
        }

        return code;
    }
}
