using Flowline.Records;

namespace Flowline.Realtime;

/// <summary>
/// Metrics from sFlow counter samples, named as sFlow-RT names them (<c>ifinoctets</c>, <c>ifoutdiscards</c>,
/// <c>load_one</c> ...): gauges as reported, counters as per-second rates between consecutive samples of the
/// same data source (32-bit counters wrap; a counter that goes back is a reset and gives no rate), and
/// <c>ifinutilization</c>/<c>ifoututilization</c> in percent of <c>ifspeed</c>. sFlow's "unknown" value
/// (all ones) gives no metric.
/// </summary>
public sealed class CounterMetrics
{
    private static readonly HashSet<string> Gauges =
    [
        "ifindex", "networktype", "ifspeed", "ifdirection", "ifpromiscuousmode", "vlan",
        "cpu_5s", "cpu_1m", "cpu_5m", "total_memory", "free_memory",
        "cpu_proc_run", "cpu_proc_total", "cpu_num", "cpu_speed", "cpu_uptime",
        "mem_total", "mem_free", "mem_shared", "mem_buffers", "mem_cached", "swap_total", "swap_free",
        "ovs_dp_flows", "ovs_dp_masks",
        "parent_dsclass", "parent_dsindex", "disk_total", "disk_free", "disk_partition_max_used",
        "vnode_mhz", "vnode_cpus", "vnode_memory", "vnode_memory_free", "vnode_num_domains", "vcpu_state", "vcpu_cpucount",
        "vmem_memory", "vmem_maxmemory", "vdsk_capacity", "vdsk_allocation", "vdsk_available",
        "openflow_port", "attachedaggid", "actoradminportstate", "actoroperportstate", "partneradminportstate", "partneroperportstate",
        "memory_used", "memory_max", "files_open", "files_max", "connections_open", "connections_max",
    ];

    private static string Rename(string name) => name switch
    {
        "networktype" => "iftype",
        "cpu_uptime" => "uptime",
        "cpu_load_one" => "load_one",
        "cpu_load_five" => "load_five",
        "cpu_load_fifteen" => "load_fifteen",
        "openflow_port" => "of_port",
        // app_resources (Open vSwitch's own process): named as the application's, not the host's.
        "user_time" or "system_time" or "memory_used" or "memory_max" or "files_open" or "files_max" or "connections_open" or "connections_max" => "app_" + name,
        _ => name,
    };

    private sealed class Source
    {
        public readonly Dictionary<string, double> Values = [];
        public readonly Dictionary<string, (ulong Raw, long Time)> Last = [];
        public long Updated;
        public long Samples;
        /// <summary>The last sample sequence number of each sub-agent reporting the source (they count apart); a few at most.</summary>
        public readonly Dictionary<uint, uint> Sequences = [];
        public HostDescription? Host;
        public HostAdapter[]? Adapters;
        public DataSource? Parent;
        /// <summary>port_name (0:1005) and of_port's datapath (0:1004): text metrics of an interface.</summary>
        public string? PortName;
        public ulong? Datapath;
    }

    private readonly Lock _lock = new();
    private readonly Dictionary<DataSource, Source> _sources = [];
    private long _evicted;

    /// <summary>Data sources (agent, interface or other source) whose metrics are kept at most; the longest silent tenth goes beyond it.</summary>
    public const int MaxSources = 50_000;

    /// <summary>How far behind the last sample a sample may be and still be a late one, not an agent's restart.</summary>
    private const uint LateWindow = 8;

    /// <summary>Sub-agents whose sample sequences are followed per data source (what a datagram says: bounded).</summary>
    private const int MaxSubAgents = 16;

    /// <summary>Data sources forgotten to stay within <see cref="MaxSources"/>.</summary>
    public long Evicted => Interlocked.Read(ref _evicted);

    public int Sources
    {
        get
        {
            lock (_lock) return _sources.Count;
        }
    }
    private readonly Dictionary<(uint, uint), string[]> _names = [];

    /// <summary>Takes a counter record received at <paramref name="now"/> µs; <paramref name="updated"/> hears each metric set.</summary>
    public void Add(in CounterRecord c, long now, Action<DataSource, string, double>? updated = null)
    {
        var schema = c.Schema;
        if (schema is null) return;
        var source = new DataSource(c.Agent, c.SourceId);
        List<(string, double)>? changed = updated is null ? null : [];
        lock (_lock)
        {
            if (!_names.TryGetValue((c.Enterprise, c.Format), out var names))
            {
                names = schema.Names.Select(n => n.ToLowerInvariant()).ToArray();
                _names[(c.Enterprise, c.Format)] = names;
            }
            if (!_sources.TryGetValue(source, out var s))
            {
                // Agent addresses and source ids are whatever a datagram says: a flood of made-up ones displaces the silent.
                if (_sources.Count >= MaxSources)
                {
                    foreach (var old in _sources.OrderBy(x => x.Value.Updated).Take(MaxSources / 10).Select(x => x.Key).ToList())
                    {
                        _sources.Remove(old);
                        _evicted++;
                    }
                }
                _sources[source] = s = new Source();
            }
            // One counter sample carries several records, each handed here with the sample's sequence number.
            var seen = s.Sequences.TryGetValue(c.SubAgent, out var last);
            if (!seen || last != c.SampleSequence) s.Samples++;
            if (seen && (int)(c.SampleSequence - last) < 0)
            {
                // A sample a little behind the last one came late (UDP reorders): older than what is kept, it is not taken.
                if (last - c.SampleSequence <= LateWindow && c.SampleSequence > LateWindow) return;
                // Further back (or back to a new start): the agent restarted. Its counters are not comparable with the
                // ones before: no rate across it, and none of the old values kept.
                s.Last.Clear();
                s.Values.Clear();
            }
            if (s.Sequences.Count >= MaxSubAgents && !s.Sequences.ContainsKey(c.SubAgent)) s.Sequences.Clear();
            s.Sequences[c.SubAgent] = c.SampleSequence;
            s.Updated = now;
            if (schema.Structured)
            {
                // host_descr and host_adapters describe the source; they are labels and text metrics, not numbers.
                if (c.Host is not null) s.Host = c.Host;
                if (c.Adapters is not null) s.Adapters = c.Adapters;
                if (c.PortName is not null) s.PortName = c.PortName.Length > 0 ? c.PortName : null;
                return;
            }
            if (c.Format == CounterSchema.HostParent.Format && c.Count == 2)
            {
                // A container's or VM's host: the data source (class << 24 | index) on the same agent.
                s.Parent = new DataSource(c.Agent, (uint)(c.Values[0] << 24) | (uint)(c.Values[1] & 0x00FF_FFFF));
            }
            void Set(string name, double value)
            {
                s.Values[name] = value;
                changed?.Add((name, value));
            }
            for (var i = 0; i < c.Count && i < names.Length; i++)
            {
                var raw = c.Values[i];
                var kind = schema.Kinds[i];
                var name = names[i];
                if (!CounterSchema.Quantity(kind))
                {
                    // Identifiers are no numbers to chart: the datapath id is a text metric (of_dpid); MACs are not kept.
                    if (kind == CounterFieldKind.Hex64) s.Datapath = raw;
                    continue;
                }
                if (kind == CounterFieldKind.F32)
                {
                    // An agent's NaN or infinity is no measurement (and not a JSON number): the value is unknown, as sFlow's all-ones integers.
                    var f = BitConverter.Int32BitsToSingle((int)(uint)raw);
                    if (float.IsFinite(f)) Set(Rename(name), f);
                    else s.Values.Remove(Rename(name));
                    continue;
                }
                if (kind == CounterFieldKind.U64 ? raw == ulong.MaxValue : raw == uint.MaxValue)
                {
                    // Unknown now: the value (or rate) an earlier sample gave is not kept as if it were current.
                    s.Values.Remove(Rename(name));
                    continue;
                }
                if (kind == CounterFieldKind.Hundredths)
                {
                    Set(name, raw / 100.0);
                    continue;
                }
                if (name == "ifstatus")
                {
                    Set("ifadminstatus", raw & 1);
                    Set("ifoperstatus", (raw >> 1) & 1);
                    continue;
                }
                if (kind == CounterFieldKind.U8 || Gauges.Contains(name))
                {
                    Set(Rename(name), raw);
                    continue;
                }
                var had = s.Last.TryGetValue(name, out var previous);
                s.Last[name] = (raw, now);
                ulong delta;
                if (!had || now <= previous.Time) delta = ulong.MaxValue;
                else if (raw >= previous.Raw) delta = raw - previous.Raw;
                else if (kind == CounterFieldKind.U32) delta = raw + (1UL << 32) - previous.Raw;
                else delta = ulong.MaxValue; // a 64-bit counter that went back was reset
                if (delta == ulong.MaxValue) s.Values.Remove(name); // no rate from this sample: none from before kept either
                else Set(name, delta / ((now - previous.Time) / 1e6));
            }
            if (c.Format == CounterSchema.GenericInterface.Format)
            {
                // Utilization follows the rates it is made of: none when either the rate or the speed is unknown.
                var speed = s.Values.GetValueOrDefault("ifspeed");
                if (speed > 0 && s.Values.TryGetValue("ifinoctets", out var inRate)) Set("ifinutilization", 100 * 8 * inRate / speed);
                else s.Values.Remove("ifinutilization");
                if (speed > 0 && s.Values.TryGetValue("ifoutoctets", out var outRate)) Set("ifoututilization", 100 * 8 * outRate / speed);
                else s.Values.Remove("ifoututilization");
            }
        }
        if (changed is not null)
        {
            foreach (var (name, value) in changed) updated!(source, name, value);
        }
    }

    /// <summary>Every metric value of the data sources whose agent <paramref name="agents"/> accepts (null: all).</summary>
    public List<(DataSource Source, string Metric, double Value, long Updated)> Values(Func<FlowAddress, bool>? agents, Func<string, bool>? metrics)
    {
        var result = new List<(DataSource, string, double, long)>();
        lock (_lock)
        {
            foreach (var (source, s) in _sources)
            {
                if (agents is not null && !agents(source.Agent)) continue;
                foreach (var (name, value) in s.Values)
                {
                    if (metrics is null || metrics(name)) result.Add((source, name, value, s.Updated));
                }
            }
        }
        return result;
    }

    /// <summary>The text metrics of Host sFlow's host_descr (host_name, host_uuid, machine_type, os_name, os_release).</summary>
    public static readonly string[] HostTextMetrics = ["host_name", "host_uuid", "machine_type", "os_name", "os_release"];

    /// <summary>Every text metric: host_descr's, an interface's name (port_name) and its OpenFlow datapath id in hexadecimal (of_port).</summary>
    public static readonly string[] TextMetrics = [.. HostTextMetrics, "ifname", "of_dpid"];

    /// <summary>The text metrics of the data sources whose agent <paramref name="agents"/> accepts, by text metric.</summary>
    public List<(DataSource Source, string Metric, string Value, long Updated)> Texts(Func<FlowAddress, bool>? agents, Func<string, bool>? metrics)
    {
        var result = new List<(DataSource, string, string, long)>();
        lock (_lock)
        {
            foreach (var (source, s) in _sources)
            {
                if (agents is not null && !agents(source.Agent)) continue;
                void Add(string name, string value)
                {
                    if (metrics is null || metrics(name)) result.Add((source, name, value, s.Updated));
                }
                if (s.Host is { } h)
                {
                    Add("host_name", h.Hostname);
                    Add("host_uuid", h.Uuid.ToString());
                    Add("machine_type", h.MachineTypeName);
                    Add("os_name", h.OsNameName);
                    Add("os_release", h.OsRelease);
                }
                if (s.PortName is { } port) Add("ifname", port);
                if (s.Datapath is { } dpid) Add("of_dpid", dpid.ToString("x16", System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return result;
    }

    /// <summary>The interface name a data source reported (port_name), if it did.</summary>
    public string? PortName(DataSource source)
    {
        lock (_lock) return _sources.TryGetValue(source, out var s) ? s.PortName : null;
    }

    /// <summary>
    /// The host and container names of a data source from Host sFlow: a source whose host_parent names another
    /// is a container (or VM) on that host — its own host_descr names the container, the parent's the host;
    /// a source without a parent (or naming itself) is a host. A container that has sent no host_descr (yet) is
    /// named by its data source, so that its series never pass for the host's.
    /// </summary>
    public (string? Host, string? Container) Names(DataSource source)
    {
        lock (_lock)
        {
            if (!_sources.TryGetValue(source, out var s)) return (null, null);
            if (s.Parent is { } parent && parent != source)
            {
                var host = _sources.TryGetValue(parent, out var p) ? p.Host?.Hostname : null;
                return (host, s.Host?.Hostname ?? source.ToString());
            }
            return (s.Host?.Hostname, null);
        }
    }

    /// <summary>Per agent: counter samples taken and the last time one arrived (µs).</summary>
    public Dictionary<FlowAddress, (long Samples, long Updated)> Agents()
    {
        var result = new Dictionary<FlowAddress, (long, long)>();
        lock (_lock)
        {
            foreach (var (source, s) in _sources)
            {
                result.TryGetValue(source.Agent, out var a);
                result[source.Agent] = (a.Item1 + s.Samples, Math.Max(a.Item2, s.Updated));
            }
        }
        return result;
    }

    /// <summary>Drops data sources silent for longer than <paramref name="idle"/> µs.</summary>
    public void Sweep(long now, long idle)
    {
        lock (_lock)
        {
            foreach (var (source, s) in _sources)
            {
                if (now - s.Updated > idle) _sources.Remove(source);
            }
        }
    }
}
