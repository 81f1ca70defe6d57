using System.Globalization;
using System.Net;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Logging;

/// <summary>The session line's Q= fields: one per queued message, in order, and bounded however long the session.</summary>
public sealed class SessionRecordQueueIdTests
{
    [Fact]
    public void Report_NoMessageQueued_HasNoQueueField()
    {
        var (record, log) = Record();

        record.Report();

        Assert.DoesNotContain(" Q=", Assert.Single(log.Lines), StringComparison.Ordinal);
    }

    [Fact]
    public void Report_ManyMessages_ListsTheFirst32AndCountsTheRest()
    {
        var (record, log) = Record();
        for (var i = 1; i <= 34; i++)
        {
            record.MessageQueued("ID" + i.ToString(CultureInfo.InvariantCulture));
        }

        record.Report();

        var line = Assert.Single(log.Lines);
        Assert.Contains(" D=", line, StringComparison.Ordinal);
        Assert.Contains("s Q=ID1 Q=ID2 Q=ID3 ", line, StringComparison.Ordinal);
        Assert.Contains(" Q=ID32 Q+=2 end=", line, StringComparison.Ordinal);
        Assert.DoesNotContain("ID33", line, StringComparison.Ordinal);
    }

    private static (SessionRecord Record, ListLogger Log) Record()
    {
        var log = new ListLogger();
        var record = new SessionRecord(Direction.Inbound, "test", new IPEndPoint(IPAddress.Loopback, 40000), new IPEndPoint(IPAddress.Loopback, 25), log, null);
        return (record, log);
    }
}
