using EarlyPipeProxy.Protocol.Capabilities;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// The sender's view of the remote's EHLO reply: PIPELINING always (the proxy reads commands one at a time either way),
/// CHUNKING always (BDAT is relayed as BDAT to a remote that offers it and becomes DATA for one that does not; DATA
/// becomes BDAT where the remote offers it), and nothing the proxy does not carry end to end: no early-pipelining
/// keyword (the sender's hop is local), not the remote's STARTTLS (ours, when configured), BINARYMIME only from a
/// remote with CHUNKING (binary content cannot travel as DATA). AUTH stays: the exchange is relayed to the remote.
/// </summary>
internal static class OutboundEhloEditor
{
    private static readonly string[] Hidden =
        [.. EarlyPipeKeywords.Spellings, SmtpKeywords.StartTls, SmtpKeywords.Xclient, SmtpKeywords.Xforward];

    /// <summary>A new reply for the sender; <paramref name="remote"/> is left as it is.</summary>
    public static EhloCapabilities Edit(EhloCapabilities remote, bool offerStartTls)
    {
        var shown = remote.Clone();
        foreach (var keyword in Hidden)
        {
            shown.Remove(keyword);
        }

        shown.Add(SmtpKeywords.Pipelining);
        if (!shown.Contains(SmtpKeywords.Chunking))
        {
            shown.Remove(SmtpKeywords.BinaryMime);
            shown.Add(SmtpKeywords.Chunking);
        }

        if (offerStartTls)
        {
            shown.Add(SmtpKeywords.StartTls);
        }

        return shown;
    }
}
