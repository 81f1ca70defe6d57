using System.CodeDom.Compiler;
using System.Reflection;
using System.Runtime.CompilerServices;
using EarlyPipeProxy.Host.Hosting;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>
/// House style the analyzers cannot check: classes are sealed by default. CA1852 (.editorconfig) covers internal
/// types; this covers every class, public ones included, in the Protocol, Sessions and Host assemblies.
/// </summary>
public sealed class HouseStyleTests
{
    [Fact]
    public void ProductionClasses_NotAbstractOrStatic_AreSealed()
    {
        Assembly[] assemblies =
        [
            typeof(SmtpCommandParser).Assembly,
            typeof(BackendOptions).Assembly,
            typeof(ProxyHost).Assembly,
        ];
        var types = assemblies.SelectMany(a => a.GetTypes()).ToArray();
        // A class that another class derives from cannot be sealed (CA1852 makes the same exception).
        var baseTypes = types.Select(t => t.BaseType).OfType<Type>().Select(t => t.IsGenericType ? t.GetGenericTypeDefinition() : t).ToHashSet();

        var unsealed = types
            .Where(t => t.IsClass && !t.IsAbstract && !t.IsSealed) // static classes are abstract and sealed
            .Where(t => !IsGenerated(t))
            .Where(t => !baseTypes.Contains(t))
            .Select(t => t.FullName)
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.True(unsealed.Count == 0, "Not sealed: " + string.Join(", ", unsealed));
    }

    // Compiler output (closures, state machines, the top-level-statements Program) and source-generator output
    // (LoggerMessage, GeneratedRegex) follow their generators' rules, not ours.
    private static bool IsGenerated(Type type)
    {
        for (var t = type; t is not null; t = t.DeclaringType)
        {
            if (t.Name.Contains('<', StringComparison.Ordinal)
                || t.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false)
                || t.IsDefined(typeof(GeneratedCodeAttribute), inherit: false)
                || t.GetMethod("<Main>$", BindingFlags.Static | BindingFlags.NonPublic) is not null)
            {
                return true;
            }
        }

        return type.Namespace?.StartsWith("System.Text.RegularExpressions.Generated", StringComparison.Ordinal) == true;
    }
}
