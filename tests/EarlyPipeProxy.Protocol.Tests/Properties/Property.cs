using System.Runtime.CompilerServices;
using CsCheck;
using Xunit.Sdk;

namespace EarlyPipeProxy.Protocol.Tests.Properties;

/// <summary>
/// Runs a property over generated cases from a fixed seed, so that every run (and CI) tries the same cases. On a failure
/// it names the case's seed and lets CsCheck shrink from there. PROTOCOL_PROPERTY_SEED=n explores other cases.
/// </summary>
internal static class Property
{
    private const ulong DefaultSeed = 14;

    // Resampling after a failure looks for a smaller failing case; bounded so that a failure still reports quickly.
    private const int ShrinkIterations = 5000;

    public static void Check<T>(Gen<T> gen, Action<T> property, int iterations, [CallerMemberName] string name = "")
    {
        var seed = ulong.TryParse(Environment.GetEnvironmentVariable("PROTOCOL_PROPERTY_SEED"), out var s) ? s : DefaultSeed;

        // One stream per property (a stable hash of its name), so that properties do not all see the same cases.
        var stream = name.Aggregate(2166136261u, (h, c) => (h ^ c) * 16777619u);
        var cases = new PCG(stream, seed);
        for (var i = 0; i < iterations; i++)
        {
            var pcg = new PCG(cases.Next(), cases.Next64());
            var caseSeed = pcg.ToString();
            var value = gen.Generate(pcg, null, out _);
            try
            {
                property(value);
            }
            catch (Exception e)
            {
                throw new XunitException(
                    $"{name}: case {i} of {iterations} failed (PROTOCOL_PROPERTY_SEED={seed}, case seed \"{caseSeed}\"): {value}\n"
                    + $"{e.GetType().Name}: {e.Message}\nShrunk: {Shrink(gen, property, caseSeed)}",
                    e);
            }
        }
    }

    private static string Shrink<T>(Gen<T> gen, Action<T> property, string caseSeed)
    {
        try
        {
            gen.Sample(property, seed: caseSeed, iter: ShrinkIterations, threads: 1);
            return "(the case passed when CsCheck ran it again)";
        }
        catch (Exception e)
        {
            return e.Message;
        }
    }
}
