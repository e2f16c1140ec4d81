using Flowline.Records;

namespace Flowline.Sessions;

/// <summary>Settings of a <see cref="Sessionizer"/>.</summary>
public sealed record SessionizerOptions
{
    /// <summary>Ports that are always the server's side (e.g. 8080, 5432), before the below-1024 rule.</summary>
    public IReadOnlySet<ushort> ServicePorts { get; init; } = new HashSet<ushort>();

    /// <summary>A session with no traffic for this long (µs, by its flows' end times against the flush time) is forgotten.</summary>
    public long IdleTimeout { get; init; } = 120_000_000;

    /// <summary>
    /// Which observations of a packet count: an exporter that reports each packet where it enters and where
    /// it leaves (Open vSwitch's IPFIX) would count it twice. Records with no reported direction always count.
    /// </summary>
    public SessionObservation Observation { get; init; } = SessionObservation.Ingress;
}

/// <summary>The records a sessionizer counts, by the direction the exporter reported (IPFIX flowDirection).</summary>
public enum SessionObservation
{
    /// <summary>Leave out records reported as egress observations (the default).</summary>
    Ingress,
    /// <summary>Leave out records reported as ingress observations (exporters that sample only on output).</summary>
    Egress,
    /// <summary>Count every record.</summary>
    Both,
}

public static class SessionObservations
{
    public static SessionObservation Parse(string text) => text switch
    {
        "ingress" => SessionObservation.Ingress,
        "egress" => SessionObservation.Egress,
        "both" => SessionObservation.Both,
        _ => throw new FormatException($"'{text}': expected ingress, egress or both"),
    };
}

/// <summary>
/// Stitches one-way flow records into bidirectional sessions. Records pair up when they have the same
/// exporter, observation domain, account and port (VMI), protocol, and the same two ends (address, port
/// and VN) in either order. ICMP echo requests pair with their replies (the two ends' addresses); other
/// ICMP messages are sessions of their own. A record's counts are added to its direction; <see cref="Flush"/>
/// hands out every session that had traffic since the last flush, oriented client to server.
/// <para>
/// Which end is the client, in this order: ICMP, the sender of the echo request (or of the message); TCP,
/// a direction whose flags hold SYN but no ACK (an opening not yet answered); the direction whose first
/// packet came first, when both were seen and their first packets differ in time; else the service-port
/// rule: a configured service port, else the one port below 1024, else the lower port is the server's
/// (equal ports: the lower address is the client). A decision made from one direction alone is made again
/// when the other turns up; once both were seen it stays.
/// </para>
/// Not thread-safe: one sessionizer per decoder or agent loop.
/// </summary>
public sealed class Sessionizer(SessionizerOptions? options = null)
{
    private readonly SessionizerOptions _options = options ?? new SessionizerOptions();
    private readonly Dictionary<Key, Entry> _sessions = [];
    /// <summary>The reported direction (0 ingress, 1 egress) whose records are left out; -1: none.</summary>
    private readonly int _skipDirection = (options?.Observation ?? SessionObservation.Ingress) switch
    {
        SessionObservation.Ingress => 1,
        SessionObservation.Egress => 0,
        _ => -1,
    };

    /// <summary>Sessions held (with or without traffic since the last flush).</summary>
    public int Count => _sessions.Count;

    /// <summary>Records added since the sessionizer was made, and those of them left out as the other observation of their packets.</summary>
    public long Records { get; private set; }
    public long OtherObservation { get; private set; }

    private readonly record struct Key(
        FlowAddress Exporter, uint ObsDomain, uint Account, uint Vmi, byte Protocol,
        FlowAddress LowIp, ushort LowPort, uint LowVn, FlowAddress HighIp, ushort HighPort, uint HighVn);

    private sealed class Entry
    {
        /// <summary>Traffic from the low end to the high end, and back.</summary>
        public SessionDirection FromLow, FromHigh;
        public bool Decided, DecidedWithBoth, ClientIsLow;
        /// <summary>Each direction was ever seen; the session was handed out before.</summary>
        public bool LowEver, HighEver, Flushed;
        /// <summary>TCP flags each end ever sent (the counts' flags start again at every flush).</summary>
        public ushort LowFlags, HighFlags;
        public ClientRule Rule;
        public bool? LocalIsLow;       // where the port is, when the records name one
        public uint App, Tier, Site, Deployment;
        public byte IcmpLow, IcmpHigh; // ICMP type sent by each end (255: none)
        public long Setup, Teardown, LastEnd;
    }

    public void Add(FlowBatch batch)
    {
        for (var i = 0; i < batch.Count; i++) Add(batch[i]);
    }

    public void Add(in FlowRecord r)
    {
        Records++;
        if (r.Direction == _skipDirection)
        {
            OtherObservation++;
            return;
        }
        ushort sport = r.SrcPort, dport = r.DstPort;
        var icmp = r.IpProto is 1 or 58;
        byte icmpType = 255;
        if (icmp)
        {
            icmpType = (byte)(r.DstPort >> 8);
            // Echo requests and replies pair by the two addresses; any other message stands alone.
            (sport, dport) = IsEcho(r.IpProto, icmpType) ? ((ushort)0, (ushort)0) : ((ushort)0, r.DstPort);
        }
        var srcIsLow = Order(r.SrcAddr, sport, r.DstAddr, dport) <= 0;
        var key = srcIsLow
            ? new Key(r.Exporter, r.ObsDomain, r.Account, r.Vmi, r.IpProto, r.SrcAddr, sport, r.SrcVn, r.DstAddr, dport, r.DstVn)
            : new Key(r.Exporter, r.ObsDomain, r.Account, r.Vmi, r.IpProto, r.DstAddr, dport, r.DstVn, r.SrcAddr, sport, r.SrcVn);
        if (!_sessions.TryGetValue(key, out var e))
        {
            e = new Entry { IcmpLow = 255, IcmpHigh = 255 };
            _sessions.Add(key, e);
        }
        ref var direction = ref srcIsLow ? ref e.FromLow : ref e.FromHigh;
        direction.Add(r);
        if (srcIsLow) e.LowEver = true;
        else e.HighEver = true;
        if (srcIsLow) e.LowFlags |= r.TcpFlags;
        else e.HighFlags |= r.TcpFlags;
        if (icmp)
        {
            if (srcIsLow) e.IcmpLow = icmpType;
            else e.IcmpHigh = icmpType;
        }
        if (r.Vmi != 0 && r.VmiDirection != VmiDirections.None)
        {
            // Egress leaves the port: the port is the record's source.
            var localIsSrc = r.VmiDirection == VmiDirections.Egress;
            e.LocalIsLow = localIsSrc == srcIsLow;
            (e.App, e.Tier, e.Site, e.Deployment) = (r.App, r.Tier, r.Site, r.Deployment);
        }
        e.Setup = e.Setup == 0 ? r.Start : Math.Min(e.Setup, r.Start);
        e.LastEnd = Math.Max(e.LastEnd, r.End);
        // FIN or RST in either direction ends a TCP session.
        if (r.IpProto == 6 && (r.TcpFlags & 0x05) != 0) e.Teardown = Math.Max(e.Teardown, r.End);
    }

    private static bool IsEcho(byte protocol, byte type) => protocol == 1 ? type is 8 or 0 : type is 128 or 129;

    private static int Order(FlowAddress a, ushort aPort, FlowAddress b, ushort bPort)
    {
        var c = a.CompareTo(b);
        return c != 0 ? c : aPort.CompareTo(bPort);
    }

    /// <summary>
    /// The sessions that had traffic since the last flush, oriented, with the counts of that time; their
    /// counts start again from zero. Sessions idle past <see cref="SessionizerOptions.IdleTimeout"/> at
    /// <paramref name="now"/> (µs), and TCP sessions torn down before this flush, are forgotten and
    /// listed in <paramref name="ended"/> when given.
    /// </summary>
    public List<Session> Flush(long now, List<Session>? ended = null)
    {
        var active = new List<Session>();
        List<Key>? forget = null;
        foreach (var (key, e) in _sessions)
        {
            if (e.FromLow.Seen || e.FromHigh.Seen)
            {
                Decide(key, e);
                active.Add(Build(key, e));
                e.Flushed = true;
                e.FromLow.ResetCounts();
                e.FromHigh.ResetCounts();
                continue;
            }
            if (e.Teardown != 0 || now - e.LastEnd >= _options.IdleTimeout)
            {
                (forget ??= []).Add(key);
                if (ended is not null)
                {
                    var s = Build(key, e);
                    if (s.Teardown == 0) s.Teardown = e.LastEnd;
                    ended.Add(s);
                }
            }
        }
        if (forget is not null)
        {
            foreach (var key in forget) _sessions.Remove(key);
        }
        return active;
    }

    private void Decide(in Key key, Entry e)
    {
        // A decision stands unless it was made from one direction and the other has turned up since.
        var both = e.LowEver && e.HighEver;
        if (e.Decided && (e.DecidedWithBoth || !both)) return;
        e.DecidedWithBoth = both;
        if (key.Protocol is 1 or 58)
        {
            // The requester is the client; a reply alone names its destination as the client.
            var v6 = key.Protocol == 58;
            byte request = v6 ? (byte)128 : (byte)8, reply = v6 ? (byte)129 : (byte)0;
            e.ClientIsLow = e.IcmpLow == request ? true
                : e.IcmpHigh == request ? false
                : e.IcmpLow == reply ? false
                : e.IcmpHigh == reply ? true
                : e.IcmpLow != 255; // any other message: its sender
            (e.Rule, e.Decided) = (ClientRule.Icmp, true);
            e.DecidedWithBoth = true; // the message types decide
            return;
        }
        if (key.Protocol == 6)
        {
            var lowSyn = OpeningOnly(e.LowFlags);
            var highSyn = OpeningOnly(e.HighFlags);
            if (lowSyn != highSyn)
            {
                (e.ClientIsLow, e.Rule, e.Decided) = (lowSyn, ClientRule.Syn, true);
                return;
            }
        }
        if (both && e.FromLow.Start != e.FromHigh.Start && e.FromLow.Start != 0 && e.FromHigh.Start != 0)
        {
            (e.ClientIsLow, e.Rule, e.Decided) = (e.FromLow.Start < e.FromHigh.Start, ClientRule.FirstPacket, true);
            return;
        }
        (e.ClientIsLow, e.Rule, e.Decided) = (!IsServerSide(key.LowPort, key.HighPort), ClientRule.ServicePort, true);
    }

    private static bool OpeningOnly(ushort flags) => (flags & 0x02) != 0 && (flags & 0x10) == 0;

    /// <summary>True when <paramref name="low"/> is the server's port against <paramref name="high"/>.</summary>
    private bool IsServerSide(ushort low, ushort high)
    {
        var lowService = _options.ServicePorts.Contains(low);
        var highService = _options.ServicePorts.Contains(high);
        if (lowService != highService) return lowService;
        if ((low < 1024) != (high < 1024)) return low < 1024;
        if (low != high) return low < high;
        return false; // equal ports: the lower address is the client
    }

    private static Session Build(in Key key, Entry e)
    {
        var s = new Session
        {
            Exporter = key.Exporter, ObsDomain = key.ObsDomain, Account = key.Account, Vmi = key.Vmi, Protocol = key.Protocol,
            App = e.App, Tier = e.Tier, Site = e.Site, Deployment = e.Deployment, Rule = e.Rule,
            Setup = e.Setup, Teardown = e.Teardown, First = !e.Flushed,
        };
        if (e.ClientIsLow)
        {
            (s.ClientIp, s.ClientPort, s.ClientVn, s.ServerIp, s.ServerPort, s.ServerVn) = (key.LowIp, key.LowPort, key.LowVn, key.HighIp, key.HighPort, key.HighVn);
            (s.Forward, s.Reverse) = (e.FromLow, e.FromHigh);
        }
        else
        {
            (s.ClientIp, s.ClientPort, s.ClientVn, s.ServerIp, s.ServerPort, s.ServerVn) = (key.HighIp, key.HighPort, key.HighVn, key.LowIp, key.LowPort, key.LowVn);
            (s.Forward, s.Reverse) = (e.FromHigh, e.FromLow);
        }
        if (key.Protocol is 1 or 58 && key.HighPort != 0)
        {
            // A lone ICMP message keeps its type and code as the server port, with no client port.
            (s.ClientPort, s.ServerPort) = (0, key.HighPort);
        }
        // Without a port of the inventory the session is recorded as its client sees it.
        s.LocalIsClient = e.LocalIsLow is not { } localIsLow || localIsLow == e.ClientIsLow;
        s.Forward.FlowId = SessionIds.FlowId(s, reverse: false);
        s.Reverse.FlowId = SessionIds.FlowId(s, reverse: true);
        return s;
    }
}
