using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using EarlyPipeProxy.Host.Control;
using EarlyPipeProxy.Host.Telemetry;
using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Host.Configuration;

/// <summary>
/// `earlypipe config show`: the configuration the proxy would run with, as JSON in the config file's shape: the bound
/// options (defaults filled in, environment and command-line overrides applied, paths resolved), readable back as a
/// config file.
/// </summary>
public static class EffectiveConfiguration
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(), new DurationJsonConverter() },
        // Only what the binder sets: a computed property (InboundTlsOptions.IsConfigured) is no key of the file.
        TypeInfoResolver = new DefaultJsonTypeInfoResolver
        {
            Modifiers =
            {
                info =>
                {
                    foreach (var property in info.Properties.Where(p => p.Set is null).ToList())
                    {
                        info.Properties.Remove(property);
                    }
                },
            },
        },
    };

    public static string ToJson(ProxyConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var root = JsonSerializer.SerializeToNode(configuration.Options, Json)!.AsObject();
        root[EhloCacheOptions.SectionName] = JsonSerializer.SerializeToNode(configuration.EhloCache, Json);
        root[ControlOptions.SectionName] = JsonSerializer.SerializeToNode(configuration.Control, Json);
        root[MetricsOptions.SectionName] = JsonSerializer.SerializeToNode(configuration.Metrics, Json);
        if (Section(configuration.Configuration.GetSection("Logging")) is { } logging)
        {
            root["Logging"] = logging;
        }

        return root.ToJsonString(Json);
    }

    /// <summary>A free-form section (Logging) as it stands in the merged configuration.</summary>
    private static JsonNode? Section(IConfigurationSection section)
    {
        var children = section.GetChildren().ToList();
        if (children.Count == 0)
        {
            return section.Value is null ? null : JsonValue.Create(section.Value);
        }

        var node = new JsonObject();
        foreach (var child in children)
        {
            node[child.Key] = Section(child);
        }

        return node;
    }
}
