using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using EarlyPipeProxy.Host.Control;
using EarlyPipeProxy.Host.Hosting;
using EarlyPipeProxy.Host.Telemetry;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Inbound;

namespace EarlyPipeProxy.Host.Configuration;

/// <summary>
/// The one place the proxy's configuration is read: the JSON file, then EARLYPIPE__ environment variables, then
/// --Section:Key=value arguments; every key checked against the options types, every value converted and validated,
/// the listeners built. Problems are collected rather than thrown, so that `earlypipe config check` and a failed start
/// can name all of them, one line each.
/// </summary>
public static class ConfigurationLoader
{
    public const string DefaultPath = "config/earlypipe.json";

    /// <summary>
    /// Top-level sections bound outside <see cref="EarlyPipeOptions"/>, by their registrations; a section missing here
    /// has all its keys reported unknown. Null: free-form (Logging's category names).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, Type?> OtherSections = new Dictionary<string, Type?>(StringComparer.OrdinalIgnoreCase)
    {
        [EhloCacheOptions.SectionName] = typeof(EhloCacheOptions),
        [ControlOptions.SectionName] = typeof(ControlOptions),
        [MetricsOptions.SectionName] = typeof(MetricsOptions),
        ["Logging"] = null,
    };

    /// <summary>Reads <paramref name="configPath"/> with the process's environment and <paramref name="overrides"/> into a configuration of its own.</summary>
    public static ProxyConfiguration Load(string configPath, IReadOnlyList<string> overrides) =>
        Load(new ConfigurationManager(), configPath, overrides);

    /// <summary>Replaces <paramref name="configuration"/>'s sources with the proxy's (a web host's builder.Configuration), then checks and binds.</summary>
    public static ProxyConfiguration Load(ConfigurationManager configuration, string configPath, IReadOnlyList<string> overrides)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(configPath);
        ArgumentNullException.ThrowIfNull(overrides);
        DurationConverter.Register();

        var root = configuration;
        var problems = new List<ConfigurationProblem>();
        configuration.Sources.Clear();
        try
        {
            // The file's own exceptions say "The configuration file '…' was not found" with the full path and a hint
            // about the base path; the operator named a path, and that path is what the line should say.
            var fullPath = Path.GetFullPath(configPath);
            if (Directory.Exists(fullPath))
            {
                return Failed(configuration, configPath, problems, "is a directory, not a config file");
            }

            if (!File.Exists(fullPath))
            {
                return Failed(configuration, configPath, problems, "no such file");
            }

            using (File.OpenRead(fullPath))
            {
            }

            configuration.AddJsonFile(fullPath, optional: false, reloadOnChange: false);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or FormatException or UnauthorizedAccessException
            or System.Text.Json.JsonException)
        {
            var reason = ex is UnauthorizedAccessException ? "permission denied" : ex.GetBaseException().Message.ReplaceLineEndings(" ");
            return Failed(configuration, configPath, problems, "cannot read: " + reason);
        }

        try
        {
            configuration.AddEnvironmentVariables(ProxyHost.EnvironmentPrefix).AddCommandLine([.. overrides]);
        }
        catch (FormatException ex)
        {
            return Failed(configuration, configPath, problems, "command line: " + ex.Message);
        }

        problems.AddRange(ConfigurationKeyChecker.UnknownKeys(root, typeof(EarlyPipeOptions), OtherSections, configPath));
        var badValues = ConfigurationKeyChecker.BadValues(root, typeof(EarlyPipeOptions), OtherSections, configPath);
        problems.AddRange(badValues);
        if (badValues.Count > 0)
        {
            // Binding would stop at the first of them; unknown keys alone do not stop it, so the checks below still run.
            return new ProxyConfiguration { ConfigPath = configPath, Configuration = root, Problems = problems };
        }

        EarlyPipeOptions options;
        try
        {
            options = root.Get<EarlyPipeOptions>() ?? new EarlyPipeOptions();
        }
        catch (InvalidOperationException ex)
        {
            problems.Add(new ConfigurationProblem(configPath, string.Empty, (ex.InnerException ?? ex).Message));
            return new ProxyConfiguration { ConfigPath = configPath, Configuration = root, Problems = problems };
        }

        var check = new Checker(root, configPath, problems);
        var ehloCache = check.Section(() => EhloCacheRegistration.ReadOptions(root, configPath), cache => cache.Validate()) ?? new EhloCacheOptions();
        var control = check.Section(() => ControlServerRegistration.ReadOptions(root, configPath), _ => { }) ?? new ControlOptions();
        var metrics = root.GetSection(MetricsOptions.SectionName).Get<MetricsOptions>() ?? new MetricsOptions();
        check.Positive("Metrics:ProbeInterval", metrics.ProbeInterval);
        check.Positive("Metrics:ProbeTimeout", metrics.ProbeTimeout);
        var metricsEndPoint = string.IsNullOrWhiteSpace(metrics.Listen) ? null : check.EndPoint("Metrics:Listen", metrics.Listen);
        check.Positive(nameof(EarlyPipeOptions.ShutdownTimeout), options.ShutdownTimeout);

        ClientNameResolver? clientNames = null;
        try
        {
            clientNames = new ClientNameResolver(options.ClientNameLookup);
        }
        catch (FormatException ex)
        {
            // "ClientNameLookup: Threads must be …": the key is said once, in front.
            var prefix = nameof(EarlyPipeOptions.ClientNameLookup) + ": ";
            check.Add(nameof(EarlyPipeOptions.ClientNameLookup), ex.Message.StartsWith(prefix, StringComparison.Ordinal) ? ex.Message[prefix.Length..] : ex.Message);
        }

        var inbound = new List<InboundListener>();
        for (var i = 0; i < options.Inbound.Length; i++)
        {
            if (check.Inbound($"Inbound:{i}", options.Inbound[i], clientNames) is { } listener)
            {
                inbound.Add(listener);
            }
        }

        var outbound = new List<OutboundListener>();
        for (var i = 0; i < options.Outbound.Length; i++)
        {
            if (check.Outbound($"Outbound:{i}", options.Outbound[i]) is { } listener)
            {
                outbound.Add(listener);
            }
        }

        if (options.Inbound.Length + options.Outbound.Length == 0)
        {
            problems.Add(new ConfigurationProblem(configPath, string.Empty, "no Inbound or Outbound listeners configured"));
        }

        return new ProxyConfiguration
        {
            ConfigPath = configPath,
            Configuration = root,
            Problems = problems,
            Options = options,
            EhloCache = ehloCache,
            Control = control,
            Metrics = metrics,
            MetricsEndPoint = metricsEndPoint,
            Inbound = inbound,
            Outbound = outbound,
        };
    }

    private static ProxyConfiguration Failed(IConfigurationRoot root, string configPath, List<ConfigurationProblem> problems, string message)
    {
        problems.Add(new ConfigurationProblem(configPath, string.Empty, message));
        return new ProxyConfiguration { ConfigPath = configPath, Configuration = root, Problems = problems };
    }

    /// <summary>The checks of bound values, each adding a problem that names the key and where its value came from.</summary>
    private sealed class Checker(IConfigurationRoot root, string configPath, List<ConfigurationProblem> problems)
    {
        public void Add(string key, string message) =>
            problems.Add(new ConfigurationProblem(ConfigurationKeyChecker.SourceOf(root, key, configPath), key, message));

        public T? Section<T>(Func<T> read, Action<T> validate)
            where T : class
        {
            try
            {
                var section = read();
                validate(section);
                return section;
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or IOException)
            {
                // These messages name their key ("Control:RequestTimeout must be positive").
                problems.Add(new ConfigurationProblem(configPath, string.Empty, ex.Message));
                return null;
            }
        }

        public void Positive(string key, TimeSpan value)
        {
            if (value <= TimeSpan.Zero)
            {
                Add(key, $"must be positive (it is {Duration.Format(value)})");
            }
        }

        public IPEndPoint? EndPoint(string key, string? text)
        {
            if (string.IsNullOrWhiteSpace(text))
            {
                Add(key, "must be address:port");
                return null;
            }

            try
            {
                return EndPointParser.Parse(text, key);
            }
            catch (FormatException)
            {
                Add(key, $"'{text}' is not address:port");
            }
            catch (Exception ex) when (ex is SocketException or ArgumentException)
            {
                Add(key, $"'{text}': {ex.Message}");
            }

            return null;
        }

        public void AddressList(string key, string[]? entries)
        {
            for (var i = 0; entries is not null && i < entries.Length; i++)
            {
                try
                {
                    Sessions.Configuration.AddressList.Parse([entries[i]]);
                }
                catch (FormatException ex)
                {
                    Add($"{key}:{i}", ex.Message);
                }
            }
        }

        public void ReadableFile(string key, string? path)
        {
            if (string.IsNullOrWhiteSpace(path))
            {
                return;
            }

            try
            {
                using (File.OpenRead(path))
                {
                }
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                Add(key, $"{path}: no such file");
            }
            catch (UnauthorizedAccessException)
            {
                Add(key, $"{path}: permission denied");
            }
            catch (IOException ex)
            {
                Add(key, $"{path}: {ex.Message}");
            }
        }

        public void Timeouts(string key, SessionTimeouts timeouts)
        {
            foreach (var property in typeof(SessionTimeouts).GetProperties().Where(p => p.PropertyType == typeof(TimeSpan)))
            {
                Positive($"{key}:Timeouts:{property.Name}", (TimeSpan)property.GetValue(timeouts)!);
            }
        }

        public InboundListener? Inbound(string key, InboundListenerOptions options, ClientNameResolver? clientNames)
        {
            var before = problems.Count;
            EndPoint(key + ":Listen", options.Listen);
            EndPoint(key + ":Backend:Address", options.Backend.Address);
            AddressList(key + ":PipeConnect:AdvertiseHosts", options.PipeConnect.AdvertiseHosts);
            AddressList(key + ":AcceptProxyHeaderFrom", options.AcceptProxyHeaderFrom);
            AddressList(key + ":Limits:AddressLimitExceptions", options.Limits.AddressLimitExceptions);
            ReadableFile(key + ":Backend:TrustedCaPath", options.Backend.TrustedCaPath);
            Timeouts(key, options.Timeouts);
            if (options.FastOpen && options.FastOpenQueueLength < 1)
            {
                Add(key + ":FastOpenQueueLength", $"must be at least 1 (it is {options.FastOpenQueueLength}; FastOpen false turns Fast Open off)");
            }

            // A certificate or key that does not load is not a problem of the configuration but of that listener: it
            // stays closed and the others serve (see ProxyConfiguration.ListenerProblems).
            // Without a resolver of its own (ClientNameLookup is invalid, already reported) the listener is still
            // checked, on the shared one: the configuration will not run either way.
            return problems.Count > before ? null : Build(key, () => new InboundListener(options, clientNames));
        }

        public OutboundListener? Outbound(string key, OutboundListenerOptions options)
        {
            var before = problems.Count;
            EndPoint(key + ":Listen", options.Listen);
            if (!string.IsNullOrWhiteSpace(options.Upstream))
            {
                EndPoint(key + ":Upstream", options.Upstream);
            }

            AddressList(key + ":AllowedSenders", options.AllowedSenders);
            AddressList(key + ":Limits:AddressLimitExceptions", options.Limits.AddressLimitExceptions);
            ReadableFile(key + ":Tls:TrustedCaPath", options.Tls.TrustedCaPath);
            Timeouts(key, options.Timeouts);
            return problems.Count > before ? null : Build(key, () => new OutboundListener(options));
        }

        /// <summary>The listener's own checks (limits, TLS material that does not load, combinations of settings).</summary>
        private T? Build<T>(string key, Func<T> build)
            where T : class
        {
            try
            {
                return build();
            }
            catch (Exception ex) when (ex is FormatException or CryptographicException or IOException or UnauthorizedAccessException
                or InvalidOperationException or ArgumentException or SocketException)
            {
                Add(key, ex.Message.TrimEnd('.'));
                return null;
            }
        }
    }
}
