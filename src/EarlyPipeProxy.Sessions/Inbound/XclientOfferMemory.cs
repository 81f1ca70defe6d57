namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// The XCLIENT attributes the listener's backend offered in the last EHLO reply a session read, kept for a short while so
/// that the sessions after it introduce their clients without asking again: banner, XCLIENT, the new 220, one backend
/// round trip fewer before the client's first reply. Postfix takes XCLIENT at any time outside a transaction, before
/// EHLO too (XCLIENT_README), and it resets the HELO state either way. The offer is asked for again once it is older
/// than <see cref="MaxAge"/> (a backend reconfigured behind the same address is seen within that). A backend that
/// refuses XCLIENT before EHLO (<see cref="Forget"/>) is asked first by every later session of the listener's settings
/// generation (until a reload or restart), so that it never sees a refused XCLIENT twice.
/// </summary>
internal sealed class XclientOfferMemory
{
    /// <summary>How long an offer is used without a fresh EHLO reply confirming it.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(1);

    private readonly Lock _gate = new();
    private string? _offer;
    private long _learntAt;
    private bool _refused;

    /// <summary>The remembered offer when it is younger than <see cref="MaxAge"/>.</summary>
    public bool TryGet(out string offer)
    {
        lock (_gate)
        {
            offer = _offer ?? string.Empty;
            return _offer is not null && !_refused && Environment.TickCount64 - _learntAt < (long)MaxAge.TotalMilliseconds;
        }
    }

    /// <summary>The offer of an EHLO reply just read.</summary>
    public void Remember(string offer)
    {
        lock (_gate)
        {
            _offer = offer;
            _learntAt = Environment.TickCount64;
        }
    }

    /// <summary>The backend refused an XCLIENT sent before EHLO: from now on every session asks first.</summary>
    public void Forget()
    {
        lock (_gate)
        {
            _offer = null;
            _refused = true;
        }
    }
}
