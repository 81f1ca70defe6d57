namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>One "earlypipe.tls_handshakes" increment and its tags.</summary>
public sealed record HandshakeMeasurement(long Value, string? Direction, string? Side, string? Resumed);
