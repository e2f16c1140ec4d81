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
    /// <summary>Aggregation holds at most this many groups; beyond it the query stops with an error.</summary>
    public const int MaxGroups = 20_000_000;

    public required NfdumpFormat Format { get; init; }
    public bool Plain { get; init; }
    public bool Quiet { get; init; }
    public (string Name, bool Ascending)? Order { get; init; }
    public bool Aggregate { get; init; }
    public bool Bidirectional { get; init; }
    public bool GuessDirection { get; init; }

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

    private sealed class Group
    {
        public FlowRecord First;
        public ulong InBytes, InPackets, OutBytes, OutPackets, Flows;
        public long Start, End;
        public ushort InFlags, OutFlags;
    }

    private readonly record struct Key(FlowAddress Src, FlowAddress Dst, ushort SrcPort, ushort DstPort, byte Proto);

    /// <summary>Writes the listing; returns the number of flows that passed.</summary>
    public long Write(Stream output, IEnumerable<FlowRecord> records, Func<long> processed)
    {
        var w = new Utf8TextWriter(output);
        if (!Quiet) WriteLine(w, Format.Header);
        ulong flows = 0, bytes = 0, packets = 0;
        long firstMs = long.MaxValue, lastMs = 0;
        var grouping = Aggregate || Bidirectional;
        var groups = new Dictionary<Key, Group>();
        var held = new List<Group>();
        foreach (var r in records)
        {
            flows++;
            bytes += r.Bytes + r.RevBytes;
            packets += r.Packets + r.RevPackets;
            firstMs = Math.Min(firstMs, r.Start / 1000);
            lastMs = Math.Max(lastMs, r.End / 1000);
            if (grouping) Add(groups, held, r);
            else if (Order is not null)
            {
                if (held.Count >= MaxGroups) throw new InvalidOperationException($"more than {MaxGroups:N0} flows to order: narrow the time range or the filter");
                held.Add(New(r));
            }
            else
            {
                Format.Write(w, r, 1);
                w.MaybeFlush();
            }
        }
        if (grouping || Order is not null)
        {
            IEnumerable<Group> rows = held;
            if (Order is { } order)
            {
                var value = Value(order.Name);
                rows = order.Ascending ? held.OrderBy(value) : held.OrderByDescending(value);
            }
            foreach (var g in rows)
            {
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

    private static Group New(in FlowRecord r) => new()
    {
        First = r, InBytes = r.Bytes, InPackets = r.Packets, OutBytes = r.RevBytes, OutPackets = r.RevPackets, Flows = 1,
        Start = r.Start, End = r.End, InFlags = r.TcpFlags,
    };

    /// <summary>nfdump's flow cache: the forward 5-tuple; in bidirectional mode TCP and UDP flows also join their reverse.</summary>
    private void Add(Dictionary<Key, Group> groups, List<Group> held, in FlowRecord r)
    {
        var key = new Key(r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort, r.IpProto);
        if (groups.TryGetValue(key, out var g))
        {
            g.InBytes += r.Bytes;
            g.InPackets += r.Packets;
            g.OutBytes += r.RevBytes;
            g.OutPackets += r.RevPackets;
            g.InFlags |= r.TcpFlags;
            Widen(g, r);
            return;
        }
        if (Bidirectional && r.IpProto is 6 or 17 &&
            groups.TryGetValue(new Key(r.DstAddr, r.SrcAddr, r.DstPort, r.SrcPort, r.IpProto), out g))
        {
            g.OutBytes += r.Bytes;
            g.OutPackets += r.Packets;
            g.InBytes += r.RevBytes;
            g.InPackets += r.RevPackets;
            g.OutFlags |= r.TcpFlags;
            Widen(g, r);
            return;
        }
        if (groups.Count >= MaxGroups) throw new InvalidOperationException($"more than {MaxGroups:N0} distinct flows to aggregate: narrow the time range or the filter");
        g = New(r);
        groups.Add(key, g);
        held.Add(g);
    }

    private static void Widen(Group g, in FlowRecord r)
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

    /// <summary>The -O value of a group; in and out as the row will show them (after -B's swap).</summary>
    private Func<Group, double> Value(string order)
    {
        (ulong In, ulong Out) Packets(Group g) => NeedSwap(g.First) ? (g.OutPackets, g.InPackets) : (g.InPackets, g.OutPackets);
        (ulong In, ulong Out) Bytes(Group g) => NeedSwap(g.First) ? (g.OutBytes, g.InBytes) : (g.InBytes, g.OutBytes);
        static double DurationMs(Group g) => g.End / 1000 - g.Start / 1000;
        static double Rate(double v, Group g, double scale) => DurationMs(g) == 0 ? 0 : Math.Floor(scale * v / DurationMs(g));
        return order switch
        {
            "flows" => g => g.Flows,
            "packets" => g => Packets(g).In + Packets(g).Out,
            "ipkg" => g => Packets(g).In,
            "opkg" => g => Packets(g).Out,
            "bytes" => g => Bytes(g).In + Bytes(g).Out,
            "ibyte" => g => Bytes(g).In,
            "obyte" => g => Bytes(g).Out,
            "pps" => g => Rate(Packets(g).In + Packets(g).Out, g, 1000),
            "ipps" => g => Rate(Packets(g).In, g, 1000),
            "opps" => g => Rate(Packets(g).Out, g, 1000),
            "bps" => g => Rate(Bytes(g).In + Bytes(g).Out, g, 8000),
            "ibps" => g => Rate(Bytes(g).In, g, 8000),
            "obps" => g => Rate(Bytes(g).Out, g, 8000),
            "bpp" => g => Packets(g) is var p && p.In + p.Out > 0 ? (Bytes(g).In + Bytes(g).Out) / (p.In + p.Out) : 0,
            "ibpp" => g => Packets(g).In > 0 ? Bytes(g).In / Packets(g).In : 0,
            "obpp" => g => Packets(g).Out > 0 ? Bytes(g).Out / Packets(g).Out : 0,
            "tstart" => g => g.Start / 1000,
            "tend" => g => g.End / 1000,
            "duration" => DurationMs,
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
