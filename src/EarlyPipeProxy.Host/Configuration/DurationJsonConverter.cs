using System.Text.Json;
using System.Text.Json.Serialization;

namespace EarlyPipeProxy.Host.Configuration;

/// <summary>TimeSpan in JSON as <see cref="Duration"/> writes it ("30s"), so `config show` reads like the config file.</summary>
public sealed class DurationJsonConverter : JsonConverter<TimeSpan>
{
    public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Duration.Parse(reader.GetString() ?? string.Empty);

    public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(Duration.Format(value));
    }
}
