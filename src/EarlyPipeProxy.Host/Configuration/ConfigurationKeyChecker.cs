using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using EarlyPipeProxy.Host.Hosting;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.EnvironmentVariables;

namespace EarlyPipeProxy.Host.Configuration;

/// <summary>
/// Walks every key of every configuration source against the options types it is bound to: a key the binder would
/// silently ignore (a typo such as "Adress") is an error naming the key and where it came from, and so is a value the
/// binder could not convert. The binder itself stops at the first bad value and never sees unknown keys.
/// </summary>
public static class ConfigurationKeyChecker
{
    /// <summary>Keys the binder would ignore, from every source, each named with the source that has it.</summary>
    /// <param name="rootType">The type the whole configuration binds to (<see cref="EarlyPipeOptions"/>).</param>
    /// <param name="sections">Top-level sections bound elsewhere, by name; a null type means free-form (Logging's category names).</param>
    /// <param name="configPath">The config file as the operator named it, for messages.</param>
    public static IReadOnlyList<ConfigurationProblem> UnknownKeys(
        IConfigurationRoot configuration, Type rootType, IReadOnlyDictionary<string, Type?> sections, string configPath)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var problems = new List<ConfigurationProblem>();
        foreach (var provider in configuration.Providers)
        {
            VisitKeys(provider, null, new Node(rootType, sections), configPath, problems);
        }

        return problems;
    }

    /// <summary>Values (as merged from the sources) that the binder could not convert to their option's type, or values where a section belongs.</summary>
    public static IReadOnlyList<ConfigurationProblem> BadValues(
        IConfigurationRoot configuration, Type rootType, IReadOnlyDictionary<string, Type?> sections, string configPath)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var problems = new List<ConfigurationProblem>();
        VisitValues(configuration, configuration.GetChildren(), new Node(rootType, sections), configPath, problems);
        return problems;
    }

    /// <summary>Where the value of <paramref name="path"/> comes from: the last source that sets it, else the config file (a default).</summary>
    public static string SourceOf(IConfigurationRoot configuration, string path, string configPath)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        foreach (var provider in configuration.Providers.Reverse())
        {
            if (provider.TryGet(path, out _))
            {
                return Describe(provider, path, configPath);
            }
        }

        return configPath;
    }

    private static string Describe(IConfigurationProvider provider, string path, string configPath) => provider switch
    {
        EnvironmentVariablesConfigurationProvider => "environment " + ProxyHost.EnvironmentPrefix + path.Replace(":", "__", StringComparison.Ordinal),
        CommandLineConfigurationProvider => "command line --" + path,
        _ => configPath,
    };

    private static void VisitKeys(IConfigurationProvider provider, string? parentPath, Node node, string configPath, List<ConfigurationProblem> problems)
    {
        foreach (var key in provider.GetChildKeys([], parentPath).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            var path = parentPath is null ? key : parentPath + ConfigurationPath.KeyDelimiter + key;
            if (!node.TryGetChild(key, out var child))
            {
                problems.Add(new ConfigurationProblem(Describe(provider, path, configPath), path, "unknown key"));
            }
            else if (!child.IsFreeForm)
            {
                VisitKeys(provider, path, child, configPath, problems);
            }
        }
    }

    private static void VisitValues(
        IConfigurationRoot configuration, IEnumerable<IConfigurationSection> sections, Node node, string configPath, List<ConfigurationProblem> problems)
    {
        foreach (var section in sections)
        {
            if (!node.TryGetChild(section.Key, out var child) || child.IsFreeForm)
            {
                continue;
            }

            var children = section.GetChildren().ToList();
            if (child.IsScalar)
            {
                if (section.Value is { } value && children.Count == 0 && ConversionProblem(child.Type!, value) is { } problem)
                {
                    problems.Add(new ConfigurationProblem(SourceOf(configuration, section.Path, configPath), section.Path, problem));
                }
            }
            else if (children.Count == 0 && !string.IsNullOrEmpty(section.Value))
            {
                problems.Add(new ConfigurationProblem(
                    SourceOf(configuration, section.Path, configPath), section.Path, $"'{section.Value}' is a value where a {child.Kind} belongs"));
            }
            else
            {
                VisitValues(configuration, children, child, configPath, problems);
            }
        }
    }

    /// <summary>What the binder would say converting <paramref name="value"/> to <paramref name="type"/>, in an operator's words; null when it converts.</summary>
    private static string? ConversionProblem(Type type, string value)
    {
        try
        {
            TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
            return null;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException or OverflowException)
        {
            var target = Nullable.GetUnderlyingType(type) ?? type;
            var expected = target switch
            {
                _ when target == typeof(TimeSpan) => $"a duration ({Duration.Forms})",
                _ when target == typeof(bool) => "true or false",
                _ when target.IsEnum => "one of " + string.Join(", ", Enum.GetNames(target)),
                _ when target == typeof(int) || target == typeof(long) || target == typeof(short) => "a whole number",
                _ when target == typeof(double) || target == typeof(decimal) || target == typeof(float) => "a number",
                _ => "a " + target.Name,
            };
            return $"'{value}' is not {expected}";
        }
    }

    /// <summary>A place in the options' shape: an options class, a list of them, a value, or free-form.</summary>
    private sealed class Node
    {
        private readonly IReadOnlyDictionary<string, Type?>? _sections;

        public Node(Type? type, IReadOnlyDictionary<string, Type?>? sections = null)
        {
            Type = type;
            _sections = sections;
        }

        /// <summary>Null: anything goes below (Logging's category names and providers).</summary>
        public Type? Type { get; }

        public bool IsFreeForm => Type is null;

        public bool IsScalar => Type is not null && IsScalarType(Type);

        public string Kind => Type is not null && ElementType(Type) is not null ? "list" : "section";

        public bool TryGetChild(string key, out Node child)
        {
            child = null!;
            if (_sections is not null && _sections.TryGetValue(key, out var sectionType))
            {
                child = new Node(sectionType);
                return true;
            }

            if (Type is null)
            {
                child = this;
                return true;
            }

            if (IsScalar)
            {
                return false;
            }

            if (ElementType(Type) is { } element)
            {
                if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    return false;
                }

                child = new Node(element);
                return true;
            }

            if (DictionaryValueType(Type) is { } valueType)
            {
                child = new Node(valueType);
                return true;
            }

            var property = Type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .FirstOrDefault(p => p.GetIndexParameters().Length == 0 && string.Equals(p.Name, key, StringComparison.OrdinalIgnoreCase)
                    && (p.SetMethod is { IsPublic: true } || !IsScalarType(p.PropertyType)));
            if (property is null)
            {
                return false;
            }

            child = new Node(property.PropertyType);
            return true;
        }

        private static bool IsScalarType(Type type)
        {
            var target = Nullable.GetUnderlyingType(type) ?? type;
            return target.IsPrimitive || target.IsEnum || target == typeof(string) || target == typeof(decimal) || target == typeof(TimeSpan)
                || (target != typeof(object) && ElementType(target) is null && TypeDescriptor.GetConverter(target).CanConvertFrom(typeof(string)));
        }

        private static Type? ElementType(Type type)
        {
            if (type.IsArray)
            {
                return type.GetElementType();
            }

            if (type == typeof(string) || !typeof(IEnumerable).IsAssignableFrom(type) || DictionaryValueType(type) is not null)
            {
                return null;
            }

            return type.GetInterfaces().Append(type)
                .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
        }

        private static Type? DictionaryValueType(Type type) =>
            type.GetInterfaces().Append(type)
                .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>) && i.GetGenericArguments()[0] == typeof(string))
                ?.GetGenericArguments()[1];
    }
}
