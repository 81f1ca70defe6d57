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

    /// <summary>The proxy's own DATA for a BDAT message the backend (without CHUNKING) receives as DATA: held, not relayed.</summary>
    DataForChunks,
    BdatChunk,
    EndOfMessage,
    Quit,
}
