using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Lifetime;

/// <summary>What <see cref="SessionGuard"/> asks of a session: its policy, in the order a session runs.</summary>
internal interface ISessionPolicy
{
    /// <summary>Everything before the first command is read (TLS-on-connect, the upstream, the banner); false when the session ends there.</summary>
    ValueTask<bool> OpenAsync();

    /// <summary>
    /// The command loop, to the session's end. <paramref name="closeRequested"/> asks for an end between transactions;
    /// past <paramref name="stopCutOff"/> a transaction whose message has not ended is abandoned as well.
    /// </summary>
    ValueTask RunCommandsAsync(CancellationToken closeRequested, CancellationToken stopCutOff);

    /// <summary>Whether a message is under way, so that a broken end must reset the upstream.</summary>
    bool InTransaction { get; }

    /// <summary>The TCP round-trip time the session's saving is about, read before the connections close; null when unknown.</summary>
    TimeSpan? MeasureRoundTripTime();

    /// <summary>The upstream failed: write the 421s the peer is owed, and log it.</summary>
    void AnswerUpstreamFailure(UpstreamUnavailableException failure);

    /// <summary>Closes the upstream connection, if any; <paramref name="abort"/> resets it.</summary>
    ValueTask CloseUpstreamAsync(bool abort);
}
