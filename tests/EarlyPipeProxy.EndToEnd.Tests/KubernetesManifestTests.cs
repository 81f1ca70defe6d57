using System.Globalization;
using System.Text.Json.Nodes;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using EarlyPipeProxy.Host.Configuration;
using YamlDotNet.Serialization;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// deploy/kubernetes checked without a cluster: the manifests parse, refer to each other correctly (labels and
/// selectors, the ConfigMap's listeners and the container's ports, probes on the metrics port's /healthz, a grace period
/// that outlasts the proxy's own stop), and the ConfigMap's configuration passes the proxy's own loader.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly string Dir = Path.Combine(RepositoryRoot.Find(), "deploy", "kubernetes");

    private static JsonNode Load(string file)
    {
        var yaml = new DeserializerBuilder().Build().Deserialize<object>(File.ReadAllText(Path.Combine(Dir, file)));
        var json = new SerializerBuilder().JsonCompatible().Build().Serialize(yaml!);
        return JsonNode.Parse(json)!;
    }

    private static string Text(JsonNode? node) => node?.GetValue<string>() ?? throw new InvalidOperationException("missing value");

    private static int Number(JsonNode? node) => int.Parse(Text(node), CultureInfo.InvariantCulture);

    private static Dictionary<string, string> Labels(JsonNode? node) =>
        node!.AsObject().ToDictionary(p => p.Key, p => Text(p.Value));

    private static void AssertSelects(Dictionary<string, string> selector, Dictionary<string, string> labels, string what)
    {
        Assert.NotEmpty(selector);
        foreach (var (key, value) in selector)
        {
            Assert.True(labels.TryGetValue(key, out var label) && label == value, $"{what}: {key}={value} does not select the pod template's labels");
        }
    }

    private static JsonNode Container(JsonNode deployment) => deployment["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Single()!;

    /// <summary>A probe's or a Service's port, by number or by the container port's name.</summary>
    private static int ContainerPort(JsonNode container, JsonNode port)
    {
        var text = Text(port);
        return int.TryParse(text, CultureInfo.InvariantCulture, out var number)
            ? number
            : Number(container["ports"]!.AsArray().Single(p => Text(p!["name"]) == text)!["containerPort"]);
    }

    private static int PortOf(string listen) => int.Parse(listen[(listen.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);

    [Fact]
    public void Kustomization_lists_every_manifest()
    {
        var listed = Load("kustomization.yaml")["resources"]!.AsArray().Select(Text).Order(StringComparer.Ordinal);
        var files = Directory.GetFiles(Dir, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order(StringComparer.Ordinal);

        Assert.Equal(files, listed);
    }

    [Fact]
    public void Selectors_of_the_deployment_service_and_disruption_budget_select_the_pods()
    {
        var deployment = Load("deployment.yaml");
        var pods = Labels(deployment["spec"]!["template"]!["metadata"]!["labels"]);

        Assert.Equal("Deployment", Text(deployment["kind"]));
        AssertSelects(Labels(deployment["spec"]!["selector"]!["matchLabels"]), pods, "Deployment");
        var service = Load("service.yaml");
        AssertSelects(Labels(service["spec"]!["selector"]), pods, "Service");
        var budget = Load("pdb.yaml");
        Assert.Equal("PodDisruptionBudget", Text(budget["kind"]));
        AssertSelects(Labels(budget["spec"]!["selector"]!["matchLabels"]), pods, "PodDisruptionBudget");
        Assert.True(Number(budget["spec"]!["minAvailable"]) < Number(deployment["spec"]!["replicas"]), "the budget must let one replica at a time go");
        foreach (var spread in deployment["spec"]!["template"]!["spec"]!["topologySpreadConstraints"]!.AsArray())
        {
            AssertSelects(Labels(spread!["labelSelector"]!["matchLabels"]), pods, "topologySpreadConstraints");
        }
    }

    [Fact]
    public void The_service_keeps_client_addresses_and_reaches_an_smtp_listener_of_the_config()
    {
        var service = Load("service.yaml");
        var deployment = Load("deployment.yaml");
        var container = Container(deployment);
        var config = LoadConfigMap();
        var listenPorts = config.Options.Inbound.Select(l => PortOf(l.Listen)).ToHashSet();

        Assert.Equal("Local", Text(service["spec"]!["externalTrafficPolicy"]));
        foreach (var port in service["spec"]!["ports"]!.AsArray())
        {
            Assert.Contains(ContainerPort(container, port!["targetPort"]!), listenPorts);
        }

        // Every listener of the config is a container port (nothing listens where Kubernetes does not know).
        var containerPorts = container["ports"]!.AsArray().Select(p => Number(p!["containerPort"])).ToHashSet();
        Assert.Subset(containerPorts, listenPorts);
        Assert.Contains(PortOf(config.Metrics.Listen!), containerPorts);
    }

    [Fact]
    public void Probes_ask_healthz_on_the_metrics_port_and_the_grace_period_outlasts_the_stop()
    {
        var deployment = Load("deployment.yaml");
        var container = Container(deployment);
        var config = LoadConfigMap();
        var metricsPort = PortOf(config.Metrics.Listen!);

        var readiness = container["readinessProbe"]!["httpGet"]!;
        Assert.Equal("/healthz", Text(readiness["path"]));
        Assert.Equal(metricsPort, ContainerPort(container, readiness["port"]!));
        Assert.StartsWith("0.0.0.0:", config.Metrics.Listen, StringComparison.Ordinal);
        var liveness = container["livenessProbe"]!;
        var livenessPort = liveness["httpGet"]?["port"] ?? liveness["tcpSocket"]!["port"];
        Assert.Equal(metricsPort, ContainerPort(container, livenessPort!));

        // preStop's pause, then the proxy's whole stop: the kubelet's SIGKILL must come after both.
        var preStop = container["lifecycle"]!["preStop"]!;
        var pause = preStop["sleep"] is { } sleep
            ? Number(sleep["seconds"])
            : Number(preStop["exec"]!["command"]!.AsArray().Select(Text).Single(a => int.TryParse(a, CultureInfo.InvariantCulture, out _)));
        var grace = Number(deployment["spec"]!["template"]!["spec"]!["terminationGracePeriodSeconds"]);
        Assert.True(TimeSpan.FromSeconds(grace) > config.Options.ShutdownTimeout + TimeSpan.FromSeconds(pause),
            $"terminationGracePeriodSeconds {grace} must exceed ShutdownTimeout {config.Options.ShutdownTimeout} plus preStop's {pause}s");
    }

    [Fact]
    public void The_deployment_mounts_the_configmap_where_its_command_reads_the_config()
    {
        var deployment = Load("deployment.yaml");
        var container = Container(deployment);
        var configMap = Load("configmap.yaml");
        var args = container["args"]!.AsArray().Select(Text).ToList();
        var configPath = args[args.IndexOf("--config") + 1];

        var volume = deployment["spec"]!["template"]!["spec"]!["volumes"]!.AsArray()
            .Single(v => v!["configMap"] is { } map && Text(map["name"]) == Text(configMap["metadata"]!["name"]))!;
        var mount = container["volumeMounts"]!.AsArray().Single(m => Text(m!["name"]) == Text(volume["name"]))!;
        Assert.Equal(Path.GetDirectoryName(configPath), Text(mount["mountPath"]));
        Assert.NotNull(configMap["data"]![Path.GetFileName(configPath)]);
    }

    [Fact]
    public void The_configmaps_configuration_passes_the_proxys_own_checks()
    {
        var config = LoadConfigMap();

        Assert.True(config.IsValid, string.Join('\n', config.Problems.Select(p => p.ToString())));
        Assert.NotEmpty(config.Inbound);
    }

    /// <summary>
    /// The ConfigMap's earlypipe.json through the proxy's loader. The backend's cluster DNS name does not resolve here:
    /// it is overridden with a loopback address, as `earlypipe config check --Inbound:0:Backend:Address=…` would be.
    /// </summary>
    private static ProxyConfiguration LoadConfigMap()
    {
        var json = Text(Load("configmap.yaml")["data"]!["earlypipe.json"]);
        var dir = Directory.CreateTempSubdirectory("earlypipe-k8s-").FullName;
        try
        {
            var path = Path.Combine(dir, "earlypipe.json");
            File.WriteAllText(path, json);
            var inbound = JsonNode.Parse(json)!["Inbound"]!.AsArray().Count;
            var overrides = Enumerable.Range(0, inbound).Select(i => $"--Inbound:{i}:Backend:Address=127.0.0.1:25").ToArray();
            return ConfigurationLoader.Load(path, overrides);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
