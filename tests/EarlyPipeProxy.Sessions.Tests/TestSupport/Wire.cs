using System.Text;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>Bytes and text on the wire: Latin-1, so that every char stands for exactly one octet.</summary>
internal static class Wire
{
    public static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    public static string Text(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    /// <summary>CR, LF and NUL made visible, for assertion messages.</summary>
    public static string Visible(string text) => text.Replace("\r", "\\r", StringComparison.Ordinal)
        .Replace("\n", "\\n", StringComparison.Ordinal)
        .Replace("\0", "\\0", StringComparison.Ordinal);

    /// <summary>How long any single wait in a test may take before the test fails instead of hanging.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(3);
}
