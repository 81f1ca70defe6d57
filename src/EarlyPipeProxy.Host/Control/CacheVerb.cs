namespace EarlyPipeProxy.Host.Control;

/// <summary>What an operator asks of the EHLO cache (`earlypipe cache VERB`, and the control socket's request line).</summary>
public enum CacheVerb
{
    /// <summary>Every entry, one line each.</summary>
    List,

    /// <summary>The entries of one remote, with their cached EHLO reply.</summary>
    Show,

    /// <summary>Every entry, or those of one remote, removed.</summary>
    Flush,
}
