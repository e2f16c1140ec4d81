using System.Diagnostics;

namespace Flowline.Cli.Tests;

/// <summary>
/// A private Open vSwitch: its own ovsdb-server and ovs-vswitchd under a temporary run directory (nothing
/// shared with a system OVS), one bridge on the userspace datapath (<c>datapath_type=netdev</c>, no kernel
/// module needed), and two hosts in network namespaces, each joined to the bridge by a veth pair.
/// Offloads are off on every veth so frames are real packets of at most 1514 bytes (what a NIC would
/// carry), and TCP timestamps are off in the hosts so every data segment has exactly 40 bytes of
/// IPv4 + TCP header. Needs root; everything is removed again on Dispose.
/// </summary>
public sealed class OvsLab : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-ovs-");
    private readonly string _id = Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()))[..6];
    private readonly List<Process> _background = [];
    private readonly List<string> _namespaces = [];
    private bool _vswitchd;

    public OvsLab() : this(twoHosts: true)
    {
    }

    /// <param name="twoHosts">Add hosts A (10.77.0.1) and B (10.77.0.2); without, add hosts with <see cref="AddHost"/>.</param>
    public OvsLab(bool twoHosts)
    {
        try
        {
            Bridge = $"flb{_id}";
            var db = Path.Combine(_dir.FullName, "conf.db");
            Run(FlowlineProcess.Tool("ovsdb-tool"), "create", db, "/usr/share/openvswitch/vswitch.ovsschema");
            Run(FlowlineProcess.Tool("ovsdb-server"), db, $"--remote=punix:{Socket}", "--pidfile", "--detach",
                $"--log-file={Path.Combine(_dir.FullName, "ovsdb-server.log")}");
            Vsctl("--no-wait", "init");
            Run(FlowlineProcess.Tool("ovs-vswitchd"), $"unix:{Socket}", "--pidfile", "--detach",
                $"--log-file={Path.Combine(_dir.FullName, "ovs-vswitchd.log")}");
            _vswitchd = true;
            Vsctl("add-br", Bridge, "--", "set", "bridge", Bridge, "datapath_type=netdev");
            if (twoHosts)
            {
                A = AddHost("a", "10.77.0.1");
                B = AddHost("b", "10.77.0.2");
            }
            // The bridge's own port is a tap device that ovs-vswitchd creates after add-br returns (seconds on a busy machine).
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (!Directory.Exists($"/sys/class/net/{Bridge}") && DateTime.UtcNow < deadline) Thread.Sleep(100);
            Run(FlowlineProcess.Tool("ip"), "link", "set", Bridge, "up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Bridge { get; }
    public Host A { get; } = null!;
    public Host B { get; } = null!;

    /// <summary>The database socket; ovs-vsctl and `flowline ovs` find it through OVS_RUNDIR.</summary>
    public string Socket => Path.Combine(_dir.FullName, "db.sock");

    /// <summary>Stops ovs-vswitchd and starts it again (the database keeps its rows; the datapath is built anew).</summary>
    public void RestartVswitchd()
    {
        var pidFile = Path.Combine(_dir.FullName, "ovs-vswitchd.pid");
        var old = File.Exists(pidFile) ? File.ReadAllText(pidFile).Trim() : "";
        Run(FlowlineProcess.Tool("ovs-appctl"), "-t", "ovs-vswitchd", "exit");
        // `exit` answers before the process is gone; a new one started meanwhile finds its pid file held and aborts.
        if (old.Length > 0) ServeProcess.WaitFor(() => !Directory.Exists($"/proc/{old}"), "the old ovs-vswitchd to exit", 60);
        Run(FlowlineProcess.Tool("ovs-vswitchd"), $"unix:{Socket}", "--pidfile", "--detach",
            $"--log-file={Path.Combine(_dir.FullName, "ovs-vswitchd.log")}");
    }

    /// <summary>Runs a command in the root namespace with the lab's OVS environment; its output, or an exception naming the failure.</summary>
    public string Root(string file, params string[] args) => Run(FlowlineProcess.Tool(file), args);

    /// <summary>Adds a namespace joined to the root namespace by a veth pair (no bridge): its end inside gets <paramref name="address"/> (with its prefix length).</summary>
    public Host AddPlainHost(string name, string address)
    {
        var (ns, outside, inside) = Pair(name);
        var mac = Inside(ns, inside, address);
        return new Host(ns, address.Split('/')[0], outside, 0, 0, mac);
    }

    /// <summary>A namespace and a veth pair into it, the outside end up with its offloads off.</summary>
    private (string Namespace, string Outside, string Inside) Pair(string name)
    {
        var ns = $"fl{_id}{name}";
        string outside = ns + "0", inside = ns + "1";
        var ip = FlowlineProcess.Tool("ip");
        Run(ip, "netns", "add", ns);
        _namespaces.Add(ns);
        Run(ip, "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", ns);
        Run(ip, "link", "set", outside, "up");
        Run(FlowlineProcess.Tool("ethtool"), "-K", outside, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
        return (ns, outside, inside);
    }

    /// <summary>The inside end up with its address, offloads and TCP timestamps off; its MAC.</summary>
    private string Inside(string ns, string inside, string address)
    {
        var ip = FlowlineProcess.Tool("ip");
        Run(ip, "netns", "exec", ns, "ip", "link", "set", "lo", "up");
        Run(ip, "netns", "exec", ns, "ip", "link", "set", inside, "up");
        Run(ip, "netns", "exec", ns, "ip", "addr", "add", address, "dev", inside);
        Run(ip, "netns", "exec", ns, FlowlineProcess.Tool("ethtool"), "-K", inside, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
        Run(ip, "netns", "exec", ns, FlowlineProcess.Tool("sysctl"), "-q", "net.ipv4.tcp_timestamps=0");
        return Run(ip, "netns", "exec", ns, "cat", $"/sys/class/net/{inside}/address").Trim();
    }

    /// <summary>A host: its namespace, address, and the bridge port its veth pair forms (name, OpenFlow port, ifindex, the host's MAC).</summary>
    public sealed record Host(string Namespace, string Address, string Port = "", uint OfPort = 0, uint IfIndex = 0, string Mac = "")
    {
        /// <summary>The host's own end of its veth pair, inside its namespace.</summary>
        public string Inside => Namespace + "1";
    }

    public string Ofctl(params string[] args) => Run(FlowlineProcess.Tool("ovs-ofctl"), args);

    /// <summary>Runs a command with OVS_RUNDIR pointing at this lab, so OVS tools talk to its daemons.</summary>
    public ProcessStartInfo WithLab(ProcessStartInfo psi)
    {
        psi.Environment["OVS_RUNDIR"] = _dir.FullName;
        psi.Environment["OVS_LOGDIR"] = _dir.FullName;
        psi.Environment["OVS_DBDIR"] = _dir.FullName;
        return psi;
    }

    public string Vsctl(params string[] args) => Run(FlowlineProcess.Tool("ovs-vsctl"), args);

    /// <summary>Runs a command inside a host's namespace to its end.</summary>
    public FlowlineProcess.Result In(Host host, TimeSpan timeout, string file, params string[] args) =>
        FlowlineProcess.Run(FlowlineProcess.StartInfo(FlowlineProcess.Tool("ip"), ["netns", "exec", host.Namespace, file, .. args]), timeout);

    /// <summary>Starts a server inside a host's namespace; it is killed on Dispose.</summary>
    public Process StartIn(Host host, string workingDirectory, string file, params string[] args)
    {
        var psi = FlowlineProcess.StartInfo(FlowlineProcess.Tool("ip"), ["netns", "exec", host.Namespace, file, .. args]);
        psi.WorkingDirectory = workingDirectory;
        var p = Process.Start(psi)!;
        p.StandardInput.Close();
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _background.Add(p);
        return p;
    }

    /// <summary>Adds a host in its own namespace on an access port of the bridge (VLAN <paramref name="tag"/> when given).</summary>
    public Host AddHost(string name, string address, int? tag = null)
    {
        var (ns, outside, inside) = Pair(name);
        if (tag is { } t) Vsctl("add-port", Bridge, outside, $"tag={t}");
        else Vsctl("add-port", Bridge, outside);
        var mac = Inside(ns, inside, $"{address}/24");
        uint ofport = 0;
        // ovs-vswitchd numbers the port shortly after it is added (longer on a busy machine).
        ServeProcess.WaitFor(() => uint.TryParse(Vsctl("get", "Interface", outside, "ofport").Trim(), out ofport) && ofport is > 0 and <= 65279,
            $"ovs-vswitchd numbering {outside}", 90);
        var ifindex = uint.Parse(File.ReadAllText($"/sys/class/net/{outside}/ifindex").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        return new Host(ns, address, outside, ofport, ifindex, mac);
    }

    private string Run(string file, params string[] args)
    {
        var r = FlowlineProcess.Run(WithLab(FlowlineProcess.StartInfo(file, args)), TimeSpan.FromSeconds(30));
        if (r.ExitCode != 0) throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)}: exit {r.ExitCode}: {r.Stderr.Trim()}");
        return r.Stdout;
    }

    public void Dispose()
    {
        foreach (var p in _background)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.Dispose();
        }
        foreach (var ns in _namespaces) Quietly("ip", "netns", "delete", ns); // takes the veth pairs with it
        if (_vswitchd)
        {
            Quietly("ovs-vsctl", "--if-exists", "del-br", Bridge);
            Quietly("ovs-appctl", "-t", "ovs-vswitchd", "exit", "--cleanup");
        }
        Quietly("ovs-appctl", "-t", "ovsdb-server", "exit");
        try { _dir.Delete(recursive: true); } catch (IOException) { }
    }

    /// <summary>Clean-up that must not hide the test's own failure: a missing tool or a hung command is ignored.</summary>
    private void Quietly(string tool, params string[] args)
    {
        try { FlowlineProcess.Run(WithLab(FlowlineProcess.StartInfo(FlowlineProcess.Tool(tool), args)), TimeSpan.FromSeconds(20)); }
        catch (Exception e) when (e is FileNotFoundException or System.ComponentModel.Win32Exception or TimeoutException) { }
    }
}
