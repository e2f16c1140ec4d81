using System.Diagnostics;
using System.Text;

namespace Flowline.Cli.Tests;

/// <summary>
/// A third-party BGP implementation from Debian, run unprivileged-style on loopback with a private
/// configuration in a temporary directory, peering with Flowline as AS 65000 from 127.0.0.1 (the router
/// is AS 65001 and waits for Flowline to connect): gobgpd 3.10, exabgp 4.2 or FRR's bgpd 8.4.
/// <see cref="FlowSpecRib"/> reads what the router holds, as its own tool prints it.
/// </summary>
public sealed class BgpLab : IDisposable
{
    public const uint RouterAs = 65001, FlowlineAs = 65000;
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-bgp-");
    private readonly ProcessStartInfo _start;
    private Process _process = null!;
    private readonly StringBuilder _log = new();
    private readonly int _api;
    private readonly bool _ipv6;

    public enum Kind { Gobgp, Exabgp, Frr }

    /// <param name="ipv6">gobgpd only: listen on ::1 and expect Flowline from ::1 (a session over IPv6 transport).</param>
    /// <param name="ipv4FlowSpecOnly">gobgpd offers IPv4 FlowSpec alone (a router that cannot take IPv6 rules).</param>
    public BgpLab(Kind kind, bool ipv6 = false, bool ipv4FlowSpecOnly = false)
    {
        Which = kind;
        _ipv6 = ipv6;
        _ipv4Only = ipv4FlowSpecOnly;
        Port = ServeProcess.FreeTcpPort();
        _api = ServeProcess.FreeTcpPort();
        _start = kind switch
        {
            Kind.Gobgp => Gobgp(),
            Kind.Exabgp => Exabgp(),
            _ => Frr(),
        };
        _start.RedirectStandardOutput = _start.RedirectStandardError = true;
        Launch();
    }

    private void Launch()
    {
        _process = new Process { StartInfo = _start };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public Kind Which { get; }
    private readonly bool _ipv4Only;

    /// <summary>The TCP port the router listens on.</summary>
    public int Port { get; }

    public string Log
    {
        get
        {
            lock (_log) return _log.ToString() + (Which == Kind.Exabgp && File.Exists(Received) ? File.ReadAllText(Received) : "");
        }
    }

    private string Received => Path.Combine(_dir.FullName, "received.log");

    private ProcessStartInfo Gobgp()
    {
        var config = Path.Combine(_dir.FullName, "gobgpd.toml");
        File.WriteAllText(config, $"""
            [global.config]
              as = {RouterAs}
              router-id = "192.0.2.254"
              port = {Port}
              local-address-list = ["{(_ipv6 ? "::1" : "127.0.0.1")}"]
            [[neighbors]]
              [neighbors.config]
                neighbor-address = "{(_ipv6 ? "::1" : "127.0.0.1")}"
                peer-as = {FlowlineAs}
              [neighbors.transport.config]
                passive-mode = true
              [[neighbors.afi-safis]]
                [neighbors.afi-safis.config]
                  afi-safi-name = "ipv4-flowspec"
            """ + (_ipv4Only ? "\n" : """

              [[neighbors.afi-safis]]
                [neighbors.afi-safis.config]
                  afi-safi-name = "ipv6-flowspec"

            """));
        return FlowlineProcess.StartInfo(FlowlineProcess.Tool("gobgpd"), "-f", config, "--api-hosts", $"127.0.0.1:{_api}", "--pprof-disable", "-p");
    }

    private ProcessStartInfo Exabgp()
    {
        // exabgp hands what it receives to a process as JSON; this one appends each line to a file.
        var printer = Path.Combine(_dir.FullName, "received.sh");
        File.WriteAllText(printer, $"#!/bin/sh\nwhile IFS= read -r line; do printf '%s\\n' \"$line\" >> '{Received}'; done\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(printer, (UnixFileMode)0b111_101_101);
        var config = Path.Combine(_dir.FullName, "exabgp.conf");
        File.WriteAllText(config, $$"""
            process received {
              run {{printer}};
              encoder json;
            }
            neighbor 127.0.0.1 {
              router-id 192.0.2.254;
              local-address 127.0.0.1;
              local-as {{RouterAs}};
              peer-as {{FlowlineAs}};
              passive;
              family {
                ipv4 flow;
                ipv6 flow;
              }
              api {
                processes [ received ];
                receive { parsed; update; }
              }
            }
            """);
        var psi = FlowlineProcess.StartInfo(FlowlineProcess.Tool("exabgp"), config);
        psi.Environment["exabgp.tcp.bind"] = "127.0.0.1";
        psi.Environment["exabgp.tcp.port"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["exabgp.daemon.user"] = "root";
        psi.Environment["exabgp.daemon.drop"] = "false";
        psi.Environment["exabgp.log.destination"] = "stdout";
        psi.Environment["exabgp.api.cli"] = "false";
        return psi;
    }

    private ProcessStartInfo Frr()
    {
        var config = Path.Combine(_dir.FullName, "bgpd.conf");
        File.WriteAllText(config, $"""
            hostname flowline-test
            router bgp {RouterAs}
             bgp router-id 192.0.2.254
             no bgp ebgp-requires-policy
             neighbor 127.0.0.1 remote-as {FlowlineAs}
             neighbor 127.0.0.1 passive
             address-family ipv4 flowspec
              neighbor 127.0.0.1 activate
             exit-address-family
             address-family ipv6 flowspec
              neighbor 127.0.0.1 activate
             exit-address-family
            """);
        // bgpd runs as Debian's frr user (it insists on a user of the frrvty group), so its files are its own.
        var run = Path.Combine(_dir.FullName, "run");
        Directory.CreateDirectory(run);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_dir.FullName, (UnixFileMode)0b111_101_101);
        FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("chown"), "-R", "frr:frr", run, config), TimeSpan.FromSeconds(10));
        return FlowlineProcess.StartInfo("/usr/lib/frr/bgpd", "-f", config, "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-l", "127.0.0.1", "-n", "-Z", "--vty_socket", Path.Combine(_dir.FullName, "run"), "-i", Path.Combine(_dir.FullName, "run", "bgpd.pid"),
            "-u", "frr", "-g", "frr", "-A", "127.0.0.1", "-P", _api.ToString(System.Globalization.CultureInfo.InvariantCulture), "--log", "stdout");
    }

    /// <summary>The router's FlowSpec routes of one family, as its own tool prints them (exabgp: the updates it received).</summary>
    public string FlowSpecRib(bool ipv6 = false) => Which switch
    {
        Kind.Gobgp => Tool(FlowlineProcess.Tool("gobgp"), "-u", "127.0.0.1", "-p", _api.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "global", "rib", "-a", ipv6 ? "ipv6-flowspec" : "ipv4-flowspec"),
        Kind.Frr => Vtysh($"show bgp {(ipv6 ? "ipv6" : "ipv4")} flowspec detail"),
        _ => File.Exists(Received) ? File.ReadAllText(Received) : "",
    };

    /// <summary>
    /// What the router holds for the FlowSpec route to <paramref name="destination"/> (as written: 198.51.100.10/32),
    /// in its own words: gobgp's RIB line, FRR's entry, exabgp's last update naming it; null when it holds none.
    /// </summary>
    public string? Route(string destination, string? rib = null)
    {
        var ipv6 = destination.Contains(':', StringComparison.Ordinal);
        rib ??= FlowSpecRib(ipv6);
        return Which switch
        {
            Kind.Gobgp => rib.Split('\n').FirstOrDefault(l => l.Contains($"[destination: {destination}", StringComparison.Ordinal)),
            Kind.Frr => rib.Split("BGP flowspec entry:").FirstOrDefault(b => b.Contains($"Address {destination}", StringComparison.Ordinal)),
            _ => rib.Split('\n').LastOrDefault(l => l.Contains($"\"{destination}", StringComparison.Ordinal)) is { } last
                 && last.Contains("\"announce\"", StringComparison.Ordinal) ? last : null,
        };
    }

    /// <summary>
    /// gobgpd only: `gobgp monitor global rib` for one family, each line handed to <paramref name="line"/> as it
    /// arrives (the moment a route reaches the RIB, without polling).
    /// </summary>
    public Process Monitor(bool ipv6, Action<string> line)
    {
        if (Which != Kind.Gobgp) throw new InvalidOperationException("gobgpd only");
        var p = new Process
        {
            StartInfo = FlowlineProcess.StartInfo(FlowlineProcess.Tool("gobgp"), "-u", "127.0.0.1", "-p", _api.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "monitor", "global", "rib", "--current", "-a", ipv6 ? "ipv6-flowspec" : "ipv4-flowspec"),
        };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) line(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        return p;
    }

    /// <summary>The router's view of the session with Flowline.</summary>
    public string Neighbor() => Which switch
    {
        Kind.Gobgp => Tool(FlowlineProcess.Tool("gobgp"), "-u", "127.0.0.1", "-p", _api.ToString(System.Globalization.CultureInfo.InvariantCulture), "neighbor"),
        Kind.Frr => Vtysh("show bgp summary"),
        _ => Log,
    };

    private string Vtysh(string command) =>
        Tool(FlowlineProcess.Tool("vtysh"), "--vty_socket", Path.Combine(_dir.FullName, "run"), "-d", "bgpd", "-c", command);

    private static string Tool(string file, params string[] args)
    {
        var r = FlowlineProcess.Run(FlowlineProcess.StartInfo(file, args), TimeSpan.FromSeconds(30));
        return r.Stdout + r.Stderr;
    }

    /// <summary>Stops the router (kill) and starts nothing: the session must go down.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    /// <summary>Kills the router and starts it again, empty (exabgp's log of what it received starts again too).</summary>
    public void Restart()
    {
        Kill();
        _process.Dispose();
        if (File.Exists(Received)) File.Delete(Received);
        Launch();
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
        try
        {
            _dir.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
