namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <param name="Line">The command line without its line ending.</param>
/// <param name="ArrivedWithPrevious">
/// Its first bytes were already there when the backend wrote the reply to the previous command (or message, or
/// AUTH answer): it came in the same pipelined group.
/// </param>
/// <param name="Sequence">Position in the backend's transcript.</param>
/// <param name="OverTls">It arrived over the backend's TLS layer (after STARTTLS), not in cleartext.</param>
public sealed record ReceivedCommand(string Line, bool ArrivedWithPrevious, int Sequence, bool OverTls = false);
