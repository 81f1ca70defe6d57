using System.Buffers;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Commands;

public sealed class SmtpCommandWriterTests
{
    private static string Written(Action<IBufferWriter<byte>> write)
    {
        var writer = new ArrayBufferWriter<byte>();
        write(writer);
        return Bytes.Text(writer.WrittenSpan);
    }

    [Fact]
    public void WriteEhlo_Domain_WritesVerbDomainCrlf()
    {
        Assert.Equal("EHLO mx.example.org\r\n", Written(w => SmtpCommandWriter.WriteEhlo(w, "mx.example.org")));
    }

    [Fact]
    public void WriteEhlo_AddressLiteral_WritesItUnchanged()
    {
        Assert.Equal("EHLO [IPv6:2001:db8::1]\r\n", Written(w => SmtpCommandWriter.WriteEhlo(w, "[IPv6:2001:db8::1]")));
    }

    [Fact]
    public void WriteHelo_Domain_WritesVerbDomainCrlf()
    {
        Assert.Equal("HELO mx.example.org\r\n", Written(w => SmtpCommandWriter.WriteHelo(w, "mx.example.org")));
    }

    [Fact]
    public void WriteQuit_WritesQuitCrlf() => Assert.Equal("QUIT\r\n", Written(SmtpCommandWriter.WriteQuit));

    [Fact]
    public void WriteData_WritesDataCrlf() => Assert.Equal("DATA\r\n", Written(SmtpCommandWriter.WriteData));

    [Fact]
    public void WriteStartTls_WritesStartTlsCrlf() => Assert.Equal("STARTTLS\r\n", Written(SmtpCommandWriter.WriteStartTls));

    [Fact]
    public void WriteRset_WritesRsetCrlf() => Assert.Equal("RSET\r\n", Written(SmtpCommandWriter.WriteRset));

    [Fact]
    public void WriteAuthCancel_WritesStarCrlf() => Assert.Equal("*\r\n", Written(SmtpCommandWriter.WriteAuthCancel));

    [Theory]
    [InlineData(0L, false, "BDAT 0\r\n")]
    [InlineData(0L, true, "BDAT 0 LAST\r\n")]
    [InlineData(1L, false, "BDAT 1\r\n")]
    [InlineData(1L, true, "BDAT 1 LAST\r\n")]
    [InlineData(123L, false, "BDAT 123\r\n")]
    [InlineData(123L, true, "BDAT 123 LAST\r\n")]
    [InlineData(long.MaxValue, false, "BDAT 9223372036854775807\r\n")]
    [InlineData(long.MaxValue, true, "BDAT 9223372036854775807 LAST\r\n")]
    public void WriteBdat_Size_WritesDecimalSizeAndOptionalLast(long size, bool last, string expected)
    {
        Assert.Equal(expected, Written(w => SmtpCommandWriter.WriteBdat(w, size, last)));
    }

    [Fact]
    public void WriteBdat_NegativeSize_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SmtpCommandWriter.WriteBdat(new ArrayBufferWriter<byte>(), -1, last: false));
    }

    [Fact]
    public void WriteBdat_AfterEarlierCommand_Appends()
    {
        var writer = new ArrayBufferWriter<byte>();

        SmtpCommandWriter.WriteRset(writer);
        SmtpCommandWriter.WriteBdat(writer, 42, last: true);
        SmtpCommandWriter.WriteQuit(writer);

        Assert.Equal("RSET\r\nBDAT 42 LAST\r\nQUIT\r\n", Bytes.Text(writer.WrittenSpan));
    }

    [Theory]
    [InlineData("mx\r\nRCPT TO:<x@example.org>")]
    [InlineData("mx\nQUIT")]
    [InlineData("mx\rQUIT")]
    [InlineData("mx\0")]
    [InlineData("mx example")]
    [InlineData("mx\texample")]
    [InlineData("\r\n")]
    [InlineData(" ")]
    [InlineData("mx.exämple.org")]
    [InlineData("mx\u007F")]
    public void WriteEhloAndHelo_DomainThatCouldInjectOrIsNotAscii_ThrowsAndWritesNothing(string domain)
    {
        var writer = new ArrayBufferWriter<byte>();

        Assert.Throws<ArgumentException>(() => SmtpCommandWriter.WriteEhlo(writer, domain));
        Assert.Throws<ArgumentException>(() => SmtpCommandWriter.WriteHelo(writer, domain));
        Assert.Equal(0, writer.WrittenCount);
    }

    [Fact]
    public void WriteEhlo_EmptyDomain_Throws()
    {
        Assert.Throws<ArgumentException>(() => SmtpCommandWriter.WriteEhlo(new ArrayBufferWriter<byte>(), ""));
    }

    [Fact]
    public void WriteEhlo_NullDomain_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => SmtpCommandWriter.WriteEhlo(new ArrayBufferWriter<byte>(), null!));
    }

    [Fact]
    public void WriteEhlo_EveryPrintableAsciiChar_IsAccepted()
    {
        string domain = new([.. Enumerable.Range(0x21, 0x7F - 0x21).Select(i => (char)i)]);

        Assert.Equal("EHLO " + domain + "\r\n", Written(w => SmtpCommandWriter.WriteEhlo(w, domain)));
    }
}
