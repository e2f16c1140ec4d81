using System.Diagnostics;
using System.Globalization;
using Flowline.Records;

namespace Flowline.Cli.Ovs;

/// <summary>
/// `flowline ovs configure|clear`: points an Open vSwitch bridge's sFlow, NetFlow and IPFIX export at a
/// collector (the manual ovs-vsctl steps of the Open vSwitch guide, in one command), or removes them.
/// </summary>
internal static class OvsCommand
{
    public const string Help = """
        Usage: flowline ovs configure --bridge BR --collector ADDR [options]
               flowline ovs clear --bridge BR
               flowline ovs show --bridge BR

        configure points the bridge's exports at a Flowline collector through ovs-vsctl, replacing any
        existing sFlow / NetFlow / IPFIX settings of the bridge; clear removes them; show prints them.

          --bridge BR            the OVS bridge (e.g. br-int)
          --collector ADDR       the collector's address (IPv4 or IPv6)
          --protocols LIST       which exports: sflow,netflow,ipfix (default: all three)
          --sflow-port P         default 6343
          --netflow-port P       default 2055
          --ipfix-port P         default 4739
          --agent IFACE          sFlow agent interface or address (default: the bridge)
          --sampling N           sFlow and IPFIX packet sampling, 1 in N (default 64)
          --polling S            sFlow counter polling interval in seconds (default 10)
          --header B             sFlow sampled header bytes (default 128)
          --active-timeout S     NetFlow / IPFIX active flow timeout in seconds (default 60)
          --obs-domain N         IPFIX observation domain id (default 1)
          --dry-run              print the ovs-vsctl command instead of running it
        """;

    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Length == 0 || args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(Console.Out, Help);
            return args.Length == 0 ? 2 : 0;
        }
        var verb = args[0];
        string? bridge = null, collector = null, agent = null;
        var protocols = new HashSet<string> { "sflow", "netflow", "ipfix" };
        int sflowPort = 6343, netflowPort = 2055, ipfixPort = 4739, sampling = 64, polling = 10, header = 128, activeTimeout = 60, domain = 1;
        var dryRun = false;
        try
        {
            for (var i = 1; i < args.Length; i++)
            {
                var a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
                int Number(int min, int max)
                {
                    var t = Next();
                    return int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
                        ? v : throw new ArgumentException($"{a} {t}: expected a number from {min} to {max}");
                }
                switch (a)
                {
                    case "--bridge": bridge = Next(); break;
                    case "--collector": collector = Next(); break;
                    case "--agent": agent = Next(); break;
                    case "--protocols":
                        protocols = [.. Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
                        foreach (var p in protocols)
                        {
                            if (p is not ("sflow" or "netflow" or "ipfix")) throw new ArgumentException($"--protocols: unknown '{p}' (sflow, netflow, ipfix)");
                        }
                        break;
                    case "--sflow-port": sflowPort = Number(1, 65535); break;
                    case "--netflow-port": netflowPort = Number(1, 65535); break;
                    case "--ipfix-port": ipfixPort = Number(1, 65535); break;
                    case "--sampling": sampling = Number(1, int.MaxValue); break;
                    case "--polling": polling = Number(0, 86400); break;
                    case "--header": header = Number(14, 1024); break;
                    case "--active-timeout": activeTimeout = Number(1, 86400); break;
                    case "--obs-domain": domain = Number(0, int.MaxValue); break;
                    case "--dry-run": dryRun = true; break;
                    default: throw new ArgumentException($"unknown option {a} (see `flowline ovs --help`)");
                }
            }
            if (verb is not ("configure" or "clear" or "show")) throw new ArgumentException($"unknown ovs command '{verb}' (configure, clear, show)");
            if (bridge is null) throw new ArgumentException("--bridge is required");
            if (verb == "configure")
            {
                if (collector is null) throw new ArgumentException("--collector is required");
                if (!System.Net.IPAddress.TryParse(collector, out _)) throw new ArgumentException($"--collector {collector}: not an IP address");
            }
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"flowline ovs: {e.Message}");
            return 2;
        }

        var vsctl = new List<string>();
        switch (verb)
        {
            case "show":
                return Exec(["--columns=name,sflow,netflow,ipfix", "list", "Bridge", bridge!], dryRun, stderr);
            case "clear":
                vsctl.AddRange(["--", "clear", "Bridge", bridge!, "sflow", "--", "clear", "Bridge", bridge!, "netflow", "--", "clear", "Bridge", bridge!, "ipfix"]);
                return Exec(vsctl, dryRun, stderr);
        }
        var host = collector!.Contains(':') ? $"[{collector}]" : collector;
        if (protocols.Contains("sflow"))
        {
            vsctl.AddRange(["--", "--id=@sflow", "create", "sflow", $"agent={agent ?? bridge}", $"targets=\"{host}:{sflowPort}\"",
                $"header={header}", $"sampling={sampling}", $"polling={polling}", "--", "set", "Bridge", bridge!, "sflow=@sflow"]);
        }
        else vsctl.AddRange(["--", "clear", "Bridge", bridge!, "sflow"]);
        if (protocols.Contains("netflow"))
        {
            vsctl.AddRange(["--", "--id=@nf", "create", "NetFlow", $"targets=\"{host}:{netflowPort}\"", $"active-timeout={activeTimeout}",
                "--", "set", "Bridge", bridge!, "netflow=@nf"]);
        }
        else vsctl.AddRange(["--", "clear", "Bridge", bridge!, "netflow"]);
        if (protocols.Contains("ipfix"))
        {
            vsctl.AddRange(["--", "--id=@ipfix", "create", "IPFIX", $"targets=\"{host}:{ipfixPort}\"", $"obs_domain_id={domain}",
                $"sampling={sampling}", $"cache_active_timeout={activeTimeout}", "--", "set", "Bridge", bridge!, "ipfix=@ipfix"]);
        }
        else vsctl.AddRange(["--", "clear", "Bridge", bridge!, "ipfix"]);
        return Exec(vsctl, dryRun, stderr);
    }

    private static int Exec(List<string> args, bool dryRun, TextWriter stderr)
    {
        if (dryRun)
        {
            Console.Out.WriteLine("ovs-vsctl " + string.Join(' ', args.Select(a => a.Contains('"') || a.Contains(' ') ? $"'{a}'" : a)));
            return 0;
        }
        var psi = new ProcessStartInfo("ovs-vsctl") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                stderr.WriteLine($"flowline ovs: ovs-vsctl failed: {error.Trim()}");
                return 1;
            }
            return 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            stderr.WriteLine("flowline ovs: ovs-vsctl not found (apt-get install openvswitch-switch)");
            return 1;
        }
    }
}
