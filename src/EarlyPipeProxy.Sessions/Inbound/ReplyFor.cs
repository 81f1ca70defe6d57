namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>What a reply the session is waiting for from the backend answers; decides how it is relayed and counted.</summary>
internal enum ReplyFor : byte
{
    Other,
    Ehlo,
    Helo,
    Mail,
    Rcpt,
    Rset,
    Data,
    BdatChunk,
    EndOfMessage,
    Quit,
}
