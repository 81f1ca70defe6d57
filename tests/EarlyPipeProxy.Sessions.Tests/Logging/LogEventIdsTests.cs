using System.Reflection;
using EarlyPipeProxy.Sessions.Logging;

namespace EarlyPipeProxy.Sessions.Tests.Logging;

public sealed class LogEventIdsTests
{
    [Fact]
    public void No_two_messages_share_an_event_id()
    {
        // Arrange
        var ids = typeof(LogEventIds).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .Select(f => (f.Name, Id: (int)f.GetRawConstantValue()!))
            .ToList();

        // Act
        var shared = ids.GroupBy(i => i.Id).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(i => i.Name))}")
            .ToList();

        // Assert
        Assert.NotEmpty(ids);
        Assert.Empty(shared);
    }
}
