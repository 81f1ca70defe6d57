namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Three network namespaces in a row, client - proxy - backend, dual-stack (<see cref="TransparentAddresses"/>). The
/// client's and the backend's default routes lead to the proxy namespace, which forwards nothing: traffic between
/// the ends exists only where the proxy terminates it, and the backend's answers to the client's address reach the
/// proxy only because it is the backend's route. The proxy namespace's policy routing is the shipped
/// deploy/transparent/setup.sh (<see cref="SetUpRoutingAsync"/>). Needs root, iproute2, iptables with the socket
/// match and TPROXY (<see cref="RequireAsync"/>). Everything goes with the namespaces.
/// </summary>
public sealed class TransparentNetwork : IAsyncDisposable
{
    /// <summary>The proxy namespace's interface toward the client (for setup.sh --in).</summary>
    public const string ClientSideInterface = "cside";

    private TransparentNetwork(NetworkNamespace client, NetworkNamespace proxy, NetworkNamespace backend)
    {
        Client = client;
        Proxy = proxy;
        Backend = backend;
    }

    public NetworkNamespace Client { get; }

    public NetworkNamespace Proxy { get; }

    public NetworkNamespace Backend { get; }

    public static string SetupScript => Path.Combine(RepositoryRoot.Find(), "deploy", "transparent", "setup.sh");

    /// <summary>Skips the test when it cannot run here, except with CI=true, where it fails.</summary>
    public static async Task RequireAsync()
    {
        var reason = await WhyNotRunnableAsync();
        if (reason is null)
        {
            return;
        }

        if (Peers.IsCi)
        {
            Assert.Fail("CI=true, so the transparent-mode tests must run, but: " + reason);
        }

        Skip.If(true, reason);
    }

    public static async Task<TransparentNetwork> CreateAsync()
    {
        var made = new List<NetworkNamespace>();
        try
        {
            made.Add(await NetworkNamespace.CreateAsync("epp-tpc"));
            made.Add(await NetworkNamespace.CreateAsync("epp-tpp"));
            made.Add(await NetworkNamespace.CreateAsync("epp-tpb"));
            var network = new TransparentNetwork(made[0], made[1], made[2]);
            await network.WireAsync();
            return network;
        }
        catch
        {
            foreach (var ns in made)
            {
                await ns.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>Runs `setup.sh up ARGS` in the proxy namespace.</summary>
    public async Task SetUpRoutingAsync(params string[] args)
    {
        var result = await Proxy.ExecAsync(["bash", SetupScript, "up", .. args]);
        Assert.True(result.ExitCode == 0, "setup.sh up: " + result);
    }

    /// <summary>Runs `setup.sh down` in the proxy namespace and returns what is left of its rules (iptables-save, ip rule).</summary>
    public async Task<string> TearDownRoutingAsync()
    {
        var result = await Proxy.ExecAsync(["bash", SetupScript, "down"]);
        Assert.True(result.ExitCode == 0, "setup.sh down: " + result);
        var left = await Proxy.ExecAsync(["bash", "-c", "iptables-save -t mangle; ip6tables-save -t mangle; ip -4 rule; ip -6 rule"]);
        return left.Stdout;
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Proxy.DisposeAsync();
        await Backend.DisposeAsync();
    }

    private async Task WireAsync()
    {
        var v4 = TransparentAddresses.V4;
        var v6 = TransparentAddresses.V6;
        // The veth pairs are made in the proxy namespace with their other ends moved straight into the others: no
        // device ever appears in the machine's own namespace, and names need only be unique per namespace.
        await CheckedAsync(Proxy, "ip", "link", "add", ClientSideInterface, "type", "veth", "peer", "name", "eth0", "netns", Client.Name);
        await CheckedAsync(Proxy, "ip", "link", "add", "bside", "type", "veth", "peer", "name", "eth0", "netns", Backend.Name);
        foreach (var (ns, device, family, address) in new[]
        {
            (Client, "eth0", v4, v4.Client), (Client, "eth0", v6, v6.Client),
            (Proxy, ClientSideInterface, v4, v4.ProxyClientSide), (Proxy, ClientSideInterface, v6, v6.ProxyClientSide),
            (Proxy, "bside", v4, v4.ProxyBackendSide), (Proxy, "bside", v6, v6.ProxyBackendSide),
            (Backend, "eth0", v4, v4.Backend), (Backend, "eth0", v6, v6.Backend),
        })
        {
            // nodad: the IPv6 addresses are usable at once, not after duplicate address detection.
            string[] add = ["ip", "addr", "add", $"{address}/{family.PrefixLength}", "dev", device];
            await CheckedAsync(ns, family.IsV6 ? [.. add, "nodad"] : add);
        }

        await CheckedAsync(Client, "ip", "link", "set", "eth0", "up");
        await CheckedAsync(Proxy, "ip", "link", "set", ClientSideInterface, "up");
        await CheckedAsync(Proxy, "ip", "link", "set", "bside", "up");
        await CheckedAsync(Backend, "ip", "link", "set", "eth0", "up");
        await CheckedAsync(Client, "ip", "-4", "route", "add", "default", "via", v4.ProxyClientSide);
        await CheckedAsync(Client, "ip", "-6", "route", "add", "default", "via", v6.ProxyClientSide);
        await CheckedAsync(Backend, "ip", "-4", "route", "add", "default", "via", v4.ProxyBackendSide);
        await CheckedAsync(Backend, "ip", "-6", "route", "add", "default", "via", v6.ProxyBackendSide);
    }

    private static async Task CheckedAsync(NetworkNamespace ns, params string[] command)
    {
        var result = await ns.ExecAsync(command);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', command)} in {ns.Name} failed: {result}");
        }
    }

    private static async Task<string?> WhyNotRunnableAsync()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "IP_TRANSPARENT and TPROXY are Linux only";
        }

        if (!Environment.IsPrivilegedProcess)
        {
            return "the transparent-mode tests need root (network namespaces, iptables, IP_TRANSPARENT); run `sudo dotnet test` or set CI=true on a root runner";
        }

        foreach (var tool in (string[])["ip", "iptables", "ip6tables"])
        {
            if (!OnPath(tool))
            {
                return $"`{tool}` is not installed; run tests/peers/install.sh as root";
            }
        }

        // The kernel's side: the socket match and the TPROXY target (xt_socket, xt_TPROXY), tried where they harm nothing.
        await using var scratch = await NetworkNamespace.CreateAsync("epp-tpchk");
        foreach (var iptables in (string[])["iptables", "ip6tables"])
        {
            string[][] rules =
            [
                ["-p", "tcp", "-m", "socket", "--transparent", "-j", "MARK", "--set-mark", "1"],
                ["-p", "tcp", "--dport", "25", "-j", "TPROXY", "--on-port", "2025", "--tproxy-mark", "1"],
            ];
            foreach (var rule in rules)
            {
                var result = await scratch.ExecAsync([iptables, "-t", "mangle", "-A", "PREROUTING", .. rule]);
                if (result.ExitCode != 0)
                {
                    return $"the kernel or {iptables} lacks what transparent mode needs ({string.Join(' ', rule)}): {result.Stderr.Trim()}";
                }
            }
        }

        return null;
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, tool)));
}
