using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// The client's view of the backend's EHLO reply: PIPELINING always (the proxy accepts pipelining from every client),
/// the early-pipelining keyword for advertise hosts right after it, our STARTTLS when the listener has a certificate,
/// and nothing the proxy cannot honour end to end (XCLIENT/XFORWARD would let the client claim any address; the
/// backend's own STARTTLS and early-pipelining offer are replaced by ours). CHUNKING always: toward a backend without
/// it BDAT becomes DATA on the way (so an early flight's cheapest form, EHLO, MAIL, RCPT, BDAT, works in front of any
/// backend); BINARYMIME only from a backend with CHUNKING, since binary content cannot travel as DATA. Deterministic,
/// so a client's cached copy stays valid across connections.
/// </summary>
internal static class InboundEhloEditor
{
    private static readonly string[] Hidden =
        [SmtpKeywords.Xclient, SmtpKeywords.Xforward, SmtpKeywords.StartTls, .. EarlyPipeKeywords.Spellings];

    /// <summary>
    /// Edits <paramref name="capabilities"/> in place; true when the early-pipelining keyword was offered. AUTH is
    /// hidden while the client's connection is not protected and the listener does not allow AUTH in cleartext.
    /// </summary>
    public static bool Edit(EhloCapabilities capabilities, InboundListenerSettings listener, bool advertise, bool offerStartTls, bool offerAuth)
    {
        foreach (var keyword in Hidden)
        {
            capabilities.Remove(keyword);
        }

        if (!offerAuth)
        {
            capabilities.Remove(SmtpKeywords.Auth);

            // The pre-RFC 4954 "AUTH=LOGIN PLAIN" form that some servers still list for old Outlook clients.
            foreach (var keyword in capabilities.Keywords.Where(k => k.Name.StartsWith(SmtpKeywords.Auth + "=", StringComparison.OrdinalIgnoreCase)).ToList())
            {
                capabilities.Remove(keyword.Name);
            }
        }

        capabilities.Add(SmtpKeywords.Pipelining);
        if (!capabilities.Contains(SmtpKeywords.Chunking))
        {
            capabilities.Remove(SmtpKeywords.BinaryMime);
            capabilities.Add(SmtpKeywords.Chunking);
        }

        if (offerStartTls)
        {
            capabilities.Add(SmtpKeywords.StartTls);
        }

        if (advertise)
        {
            capabilities.Add(listener.Options.PipeConnect.Keyword, after: SmtpKeywords.Pipelining);
        }

        return advertise;
    }
}
