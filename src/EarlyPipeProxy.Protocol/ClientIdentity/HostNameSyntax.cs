namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// Whether a PTR name is one Postfix accepts as a client host name: the same rules as its valid_hostname(), which
/// both its own lookup (a name failing them counts as no name) and its XCLIENT command (501 for NAME= or
/// REVERSE_NAME= failing them) apply. Whatever a hostile PTR record holds, a name that passes is made only of
/// letters, digits, '_', '-' and '.', so it needs no xtext encoding and cannot carry a space or a line end.
/// </summary>
public static class HostNameSyntax
{
    /// <summary>Postfix's VALID_HOSTNAME_LEN: also its limit on any XCLIENT value.</summary>
    public const int MaxLength = 255;

    /// <summary>Postfix's VALID_LABEL_LEN.</summary>
    public const int MaxLabelLength = 63;

    /// <summary>
    /// True when <paramref name="name"/> is non-empty, at most <see cref="MaxLength"/> characters, made of dot-separated
    /// non-empty labels of at most <see cref="MaxLabelLength"/> ASCII letters, digits, '_' and '-' (a hyphen neither
    /// first nor last in its label), and not all digits and dots (a numeric name could pass for an address).
    /// </summary>
    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxLength)
        {
            return false;
        }

        var labelLength = 0;
        var hasNonDigit = false;
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            var last = i == name.Length - 1;
            if (c == '.')
            {
                if (labelLength == 0 || last)
                {
                    return false;
                }

                labelLength = 0;
                continue;
            }

            if (c == '-')
            {
                if (labelLength == 0 || last || name[i + 1] == '.')
                {
                    return false;
                }

                hasNonDigit = true;
            }
            else if (char.IsAsciiLetter(c) || c == '_')
            {
                hasNonDigit = true;
            }
            else if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            if (++labelLength > MaxLabelLength)
            {
                return false;
            }
        }

        return hasNonDigit;
    }
}
