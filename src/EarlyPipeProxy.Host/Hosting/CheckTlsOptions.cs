namespace EarlyPipeProxy.Host.Hosting;

/// <summary>`earlypipe check --tls-on-connect`: how the handshake that comes first is checked.</summary>
/// <param name="Name">The name sent as SNI and checked in the certificate; null for the target's host.</param>
/// <param name="CaFile">PEM CA certificates to anchor the chain; null for the system store.</param>
/// <param name="Verify">False accepts any certificate (the output says so).</param>
public sealed record CheckTlsOptions(string? Name, string? CaFile, bool Verify);
