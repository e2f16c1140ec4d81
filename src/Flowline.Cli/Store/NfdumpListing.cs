using Flowline.Query;
using Flowline.Records;

namespace Flowline.Cli.Store;

/// <summary>
/// nfdump's way of listing: its text formats (<see cref="NfdumpFormat"/>), <c>-O</c> ordering, <c>-a</c>
/// aggregation of the flows of one 5-tuple, <c>-b</c>/<c>-B</c> bidirectional aggregation (a flow and its
/// reverse counted as one, in and out; <c>-B</c> puts the server side, the lower port, as destination), and
/// the summary line.
/// </summary>
internal sealed class NfdumpListing
{
    /// <summary>
    /// Aggregation (and -O) holds at most this many rows, about 450 bytes each with the index; beyond it the
    /// query stops with an error.
    /// </summary>
    public const int MaxGroups = 10_000_000;

    public required NfdumpFormat Format { get; init; }
    public bool Plain { get; init; }
    public bool Quiet { get; init; }
    public (string Name, bool Ascending)? Order { get; init; }
    public bool Aggregate { get; init; }
    public bool Bidirectional { get; init; }
    public bool GuessDirection { get; init; }
    /// <summary>nfdump's -n: how many of the ordered (-O) or aggregated (-a, -b, -B) flows are printed, 0 for all; the summary counts every flow.</summary>
    public long Top { get; init; }

    /// <summary>The columns the listing itself reads: the summary's counters and times, the 5-tuple of -a/-b/-B.</summary>
    public static readonly IReadOnlySet<FlowField> Columns = new HashSet<FlowField>
    {
        FlowField.Start, FlowField.End, FlowField.Bytes, FlowField.Packets, FlowField.RevBytes, FlowField.RevPackets, FlowField.TcpFlags,
        FlowField.SrcAddr, FlowField.DstAddr, FlowField.SrcPort, FlowField.DstPort, FlowField.IpProto,
    };

    /// <summary>nfdump's -O orders with their default direction.</summary>
    public static readonly IReadOnlyDictionary<string, bool> Orders = new Dictionary<string, bool>(StringComparer.OrdinalIgnoreCase)
    {
        ["flows"] = false, ["packets"] = false, ["ipkg"] = false, ["opkg"] = false, ["bytes"] = false, ["ibyte"] = false, ["obyte"] = false,
        ["pps"] = false, ["ipps"] = false, ["opps"] = false, ["bps"] = false, ["ibps"] = false, ["obps"] = false,
        ["bpp"] = false, ["ibpp"] = false, ["obpp"] = false, ["tstart"] = true, ["tend"] = true, ["duration"] = false,
    };

    /// <summary>Parses -O's argument: ORDER or ORDER:a / ORDER:d.</summary>
    public static (string, bool) ParseOrder(string text)
    {
        var colon = text.IndexOf(':');
        var name = colon < 0 ? text : text[..colon];
        if (!Orders.TryGetValue(name, out var ascending))
            throw new ArgumentException($"-O {text}: expected one of {string.Join(", ", Orders.Keys)}, optionally with :a or :d");
        if (colon >= 0)
        {
            ascending = text[(colon + 1)..] switch
            {
                "a" => true,
                "d" => false,
                var other => throw new ArgumentException($"-O {text}: expected :a (ascending) or :d (descending) after the order, found ':{other}'"),
            };
        }
        return (name.ToLowerInvariant(), ascending);
    }

    private struct Group
    {
        public FlowRecord First;
        public ulong InBytes, InPackets, OutBytes, OutPackets, Flows;
        public long Start, End;
        public ushort InFlags, OutFlags;
    }

    /// <summary>
    /// The groups (or, for -O alone, the flows) in arrival order, in chunks of structs: millions of them
    /// without an object each for the garbage collector to trace or a list to copy as it grows.
    /// </summary>
    private sealed class Groups
    {
        private const int ChunkBits = 14;
        private readonly List<Group[]> _chunks = [];

        public int Count { get; private set; }

        public ref Group this[int i] => ref _chunks[i >> ChunkBits][i & ((1 << ChunkBits) - 1)];

        public int Add(in FlowRecord r)
        {
            if (Count >= MaxGroups) throw new InvalidOperationException($"more than {MaxGroups:N0} rows to aggregate or order: narrow the time range or the filter");
            if (Count >> ChunkBits == _chunks.Count) _chunks.Add(new Group[1 << ChunkBits]);
            ref var g = ref this[Count];
            g.First = r;
            (g.InBytes, g.InPackets, g.OutBytes, g.OutPackets, g.Flows) = (r.Bytes, r.Packets, r.RevBytes, r.RevPackets, 1);
            (g.Start, g.End, g.InFlags, g.OutFlags) = (r.Start, r.End, r.TcpFlags, 0);
            return Count++;
        }
    }

    private readonly record struct Key(FlowAddress Src, FlowAddress Dst, ushort SrcPort, ushort DstPort, byte Proto)
    {
        public bool Equals(Key other) =>
            Src.Lo == other.Src.Lo && Dst.Lo == other.Dst.Lo && Src.Hi == other.Src.Hi && Dst.Hi == other.Dst.Hi &&
            SrcPort == other.SrcPort && DstPort == other.DstPort && Proto == other.Proto;

        public override int GetHashCode()
        {
            // A multiply-xorshift mix of the words: the generated record hash goes through a comparer per field.
            var h = (Src.Lo * 0x9E3779B97F4A7C15UL) ^ (Dst.Lo * 0xC2B2AE3D27D4EB4FUL) ^ ((Src.Hi ^ Dst.Hi) * 0x165667B19E3779F9UL)
                    ^ (((ulong)SrcPort << 24 | (ulong)DstPort << 8 | Proto) * 0x27D4EB2F165667C5UL);
            h ^= h >> 29;
            return (int)h ^ (int)(h >> 32);
        }
    }

    /// <summary>Writes the listing; returns the number of flows that passed.</summary>
    public long Write(Stream output, IEnumerable<FlowRecord> records, Func<long> processed)
    {
        var w = new Utf8TextWriter(output);
        if (!Quiet) WriteLine(w, Format.Header);
        ulong flows = 0, bytes = 0, packets = 0;
        long firstMs = long.MaxValue, lastMs = 0;
        var grouping = Aggregate || Bidirectional;
        var index = new Dictionary<Key, int>();
        var held = new Groups();
        foreach (var r in records)
        {
            flows++;
            bytes += r.Bytes + r.RevBytes;
            packets += r.Packets + r.RevPackets;
            firstMs = Math.Min(firstMs, r.Start / 1000);
            lastMs = Math.Max(lastMs, r.End / 1000);
            if (grouping) Add(index, held, r);
            else if (Order is not null) held.Add(r);
            else
            {
                Format.Write(w, r, 1);
                w.MaybeFlush();
            }
        }
        if (grouping || Order is not null)
        {
            var order = new int[held.Count];
            for (var i = 0; i < order.Length; i++) order[i] = i;
            if (Order is { } o)
            {
                var value = Value(o.Name);
                var values = new double[held.Count];
                for (var i = 0; i < values.Length; i++) values[i] = value(in held[i]);
                // Equal values keep their arrival order, whichever the direction.
                Array.Sort(order, (x, y) => values[x] != values[y] ? (o.Ascending ? values[x].CompareTo(values[y]) : values[y].CompareTo(values[x])) : x.CompareTo(y));
            }
            var shown = Top > 0 ? (int)Math.Min(Top, order.Length) : order.Length;
            foreach (var i in order.AsSpan(0, shown))
            {
                ref readonly var g = ref held[i];
                var r = g.First;
                r.Bytes = g.InBytes;
                r.Packets = g.InPackets;
                r.RevBytes = g.OutBytes;
                r.RevPackets = g.OutPackets;
                r.Start = g.Start;
                r.End = g.End;
                r.TcpFlags = g.InFlags;
                r.RevTcpFlags = g.OutFlags;
                if (NeedSwap(r)) Swap(ref r);
                Format.Write(w, r, g.Flows);
                w.MaybeFlush();
            }
        }
        if (flows == 0) WriteLine(w, "No matching flows");
        if (!Quiet)
        {
            WriteLine(w, NfdumpFormat.Summary(flows, bytes, packets, flows == 0 ? 0 : firstMs, lastMs, Plain));
            WriteLine(w, flows == 0 ? "Time window: <unknown>" : $"Time window: {Window(firstMs)} - {Window(lastMs)}");
            WriteLine(w, $"Total flows processed: {processed()}, passed: {flows}");
        }
        w.Flush();
        return (long)flows;
    }

    /// <summary>nfdump's flow cache: the forward 5-tuple; in bidirectional mode TCP and UDP flows also join their reverse.</summary>
    private void Add(Dictionary<Key, int> index, Groups held, in FlowRecord r)
    {
        var key = new Key(r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort, r.IpProto);
        if (index.TryGetValue(key, out var at))
        {
            ref var g = ref held[at];
            g.InBytes += r.Bytes;
            g.InPackets += r.Packets;
            g.OutBytes += r.RevBytes;
            g.OutPackets += r.RevPackets;
            g.InFlags |= r.TcpFlags;
            Widen(ref g, r);
            return;
        }
        if (Bidirectional && r.IpProto is 6 or 17 && index.TryGetValue(new Key(r.DstAddr, r.SrcAddr, r.DstPort, r.SrcPort, r.IpProto), out at))
        {
            ref var g = ref held[at];
            g.OutBytes += r.Bytes;
            g.OutPackets += r.Packets;
            g.InBytes += r.RevBytes;
            g.InPackets += r.RevPackets;
            g.OutFlags |= r.TcpFlags;
            Widen(ref g, r);
            return;
        }
        index.Add(key, held.Add(r));
    }

    private static void Widen(ref Group g, in FlowRecord r)
    {
        g.Start = Math.Min(g.Start, r.Start);
        g.End = Math.Max(g.End, r.End);
        g.Flows++;
    }

    /// <summary>nfdump's guess (-B): TCP and UDP with the lower, well-known port as source are turned round.</summary>
    private bool NeedSwap(in FlowRecord r) =>
        GuessDirection && r.IpProto is 6 or 17 &&
        ((r.SrcPort < 1024 && r.DstPort >= 1024) || (r.SrcPort < 32768 && r.DstPort >= 32768) || (r.SrcPort < 49152 && r.DstPort >= 49152));

    private static void Swap(ref FlowRecord r)
    {
        (r.SrcAddr, r.DstAddr) = (r.DstAddr, r.SrcAddr);
        (r.SrcPort, r.DstPort) = (r.DstPort, r.SrcPort);
        (r.SrcAs, r.DstAs) = (r.DstAs, r.SrcAs);
        (r.InIf, r.OutIf) = (r.OutIf, r.InIf);
        (r.Packets, r.RevPackets) = (r.RevPackets, r.Packets);
        (r.Bytes, r.RevBytes) = (r.RevBytes, r.Bytes);
    }

    /// <summary>A group's -O value (read in place: a group is hundreds of bytes).</summary>
    private delegate double GroupValue(in Group g);

    /// <summary>The -O value of a group; in and out as the row will show them (after -B's swap).</summary>
    private GroupValue Value(string order)
    {
        (ulong In, ulong Out) Packets(in Group g) => NeedSwap(g.First) ? (g.OutPackets, g.InPackets) : (g.InPackets, g.OutPackets);
        (ulong In, ulong Out) Bytes(in Group g) => NeedSwap(g.First) ? (g.OutBytes, g.InBytes) : (g.InBytes, g.OutBytes);
        static double DurationMs(in Group g) => g.End / 1000 - g.Start / 1000;
        static double Rate(double v, in Group g, double scale) => DurationMs(in g) == 0 ? 0 : Math.Floor(scale * v / DurationMs(in g));
        return order switch
        {
            "flows" => (in Group g) => g.Flows,
            "packets" => (in Group g) => Packets(in g).In + Packets(in g).Out,
            "ipkg" => (in Group g) => Packets(in g).In,
            "opkg" => (in Group g) => Packets(in g).Out,
            "bytes" => (in Group g) => Bytes(in g).In + Bytes(in g).Out,
            "ibyte" => (in Group g) => Bytes(in g).In,
            "obyte" => (in Group g) => Bytes(in g).Out,
            "pps" => (in Group g) => Rate(Packets(in g).In + Packets(in g).Out, in g, 1000),
            "ipps" => (in Group g) => Rate(Packets(in g).In, in g, 1000),
            "opps" => (in Group g) => Rate(Packets(in g).Out, in g, 1000),
            "bps" => (in Group g) => Rate(Bytes(in g).In + Bytes(in g).Out, in g, 8000),
            "ibps" => (in Group g) => Rate(Bytes(in g).In, in g, 8000),
            "obps" => (in Group g) => Rate(Bytes(in g).Out, in g, 8000),
            "bpp" => (in Group g) => Packets(in g) is var p && p.In + p.Out > 0 ? (Bytes(in g).In + Bytes(in g).Out) / (p.In + p.Out) : 0,
            "ibpp" => (in Group g) => Packets(in g).In > 0 ? Bytes(in g).In / Packets(in g).In : 0,
            "obpp" => (in Group g) => Packets(in g).Out > 0 ? Bytes(in g).Out / Packets(in g).Out : 0,
            "tstart" => (in Group g) => g.Start / 1000,
            "tend" => (in Group g) => g.End / 1000,
            "duration" => (in Group g) => DurationMs(in g),
            _ => throw new ArgumentException($"-O {order}: unknown order"),
        };
    }

    private static string Window(long ms) =>
        TimeZoneInfo.ConvertTimeFromUtc(DateTime.UnixEpoch.AddSeconds(Math.Clamp(ms / 1000, 0, 253_402_300_799L)), TimeZoneInfo.Local)
            .ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);

    private static void WriteLine(Utf8TextWriter w, string text)
    {
        w.Text(text);
        w.Byte((byte)'\n');
    }
}
