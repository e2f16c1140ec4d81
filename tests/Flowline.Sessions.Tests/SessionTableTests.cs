using Flowline.Records;
using Flowline.Wire.Generation;

namespace Flowline.Sessions.Tests;

/// <summary>The sessionizer's table under pressure: a cap far below the sessions, removals, evictions, early exports.</summary>
public sealed class SessionTableTests
{
    private const long T0 = 1_790_000_000_000_000;

    /// <summary>Records of many conversations, each seen a few times in both directions, in a random order.</summary>
    private static List<FlowRecord> Traffic(int conversations, int seed)
    {
        var random = new Random(seed);
        var records = new List<FlowRecord>();
        for (var c = 0; c < conversations; c++)
        {
            var client = FlowAddress.FromV4((uint)(0x0A000000 + random.Next(1 << 16)));
            var server = FlowAddress.FromV4((uint)(0xAC100000 + random.Next(256)));
            var port = (ushort)(1024 + random.Next(60000));
            for (var k = random.Next(1, 4); k > 0; k--)
            {
                var reverse = random.Next(2) == 0;
                records.Add(new FlowRecord
                {
                    Exporter = FlowAddress.FromV4(0xC0000201), ObsDomain = 1, IpVersion = 4, IpProto = 17,
                    SrcAddr = reverse ? server : client, DstAddr = reverse ? client : server, SrcPort = reverse ? (ushort)53 : port, DstPort = reverse ? port : (ushort)53,
                    Bytes = (ulong)random.Next(1, 5000), Packets = 1, SampledBytes = 1, SampledPackets = 1, Start = T0 + c, End = T0 + c + 10,
                });
            }
        }
        return records.OrderBy(_ => random.Next()).ToList();
    }

    private sealed class Totals : ISessionVisitor
    {
        public ulong Bytes, Packets;
        public long Active, Ended;

        public void Visit(Session s, bool ended)
        {
            if (ended)
            {
                Ended++;
                return;
            }
            Active++;
            Bytes += s.Forward.Bytes + s.Reverse.Bytes;
            Packets += s.Forward.Packets + s.Reverse.Packets;
        }
    }

    [Theory]
    [InlineData(1_000_000, 64)]   // room for all: nothing leaves early
    [InlineData(1_000, 64)]       // a thousand sessions for tens of thousands: evictions at every flush
    [InlineData(1_000, 20_000)]   // flushes far apart: the table fills between them and exports early
    public void Every_byte_comes_out_exactly_once_whatever_the_cap(int cap, int recordsPerFlush)
    {
        var records = Traffic(30_000, 3);
        var s = new Sessionizer(new SessionizerOptions { MaxSessions = cap });
        var totals = new Totals();
        var batch = new FlowBatch(256);
        var now = T0;
        for (var i = 0; i < records.Count; i++)
        {
            batch.Add(records[i]);
            if (batch.Count == batch.Capacity || i == records.Count - 1)
            {
                s.Add(batch);
                batch.Clear();
            }
            if (i % recordsPerFlush == recordsPerFlush - 1 || (s.WantsFlush && i % 256 == 255)) s.Flush(now += 1_000_000, totals);
            Assert.True(s.Count <= cap);
        }
        s.Flush(now += 1_000_000, totals);
        Assert.Equal(0, s.Dropped);
        Assert.Equal(records.Aggregate(0UL, (sum, r) => sum + r.Bytes), totals.Bytes);
        Assert.Equal((ulong)records.Count, totals.Packets);
        if (cap < 30_000) Assert.True(s.Evicted + s.ExportedEarly > 0);
        // Idle past the timeout: every session ends and the table is empty (and small again).
        s.Flush(now + 200_000_000, totals);
        Assert.Equal(0, s.Count);
        Assert.True(s.MemoryBytes < 1 << 20, $"{s.MemoryBytes} bytes held by an empty table");
    }

    [Fact]
    public void With_room_for_all_the_table_pairs_both_directions_as_a_dictionary_would()
    {
        var records = Traffic(20_000, 5);
        var s = new Sessionizer();
        foreach (var r in records) s.Add(r);
        var sessions = s.Flush(T0 + 1_000_000);
        var expected = records.Select(r => (Low: Math.Min(r.SrcPort, r.DstPort) == 53 ? (r.SrcPort == 53 ? r.DstAddr : r.SrcAddr) : r.SrcAddr,
                Port: r.SrcPort == 53 ? r.DstPort : r.SrcPort, Server: r.SrcPort == 53 ? r.SrcAddr : r.DstAddr))
            .Distinct().Count();
        Assert.Equal(expected, sessions.Count);
        Assert.All(sessions, x => Assert.Equal(53, x.ServerPort));
        Assert.Equal(records.Aggregate(0UL, (sum, r) => sum + r.Bytes), sessions.Aggregate(0UL, (sum, x) => sum + x.TotalBytes));
    }

    [Fact]
    public void Sessionizers_sharing_a_limit_hold_no_more_together()
    {
        var limit = new SessionLimit(2_000);
        var a = new Sessionizer(new SessionizerOptions { MaxSessions = 2_000, Shared = limit });
        var b = new Sessionizer(new SessionizerOptions { MaxSessions = 2_000, Shared = limit });
        var records = Traffic(10_000, 7);
        for (var i = 0; i < records.Count; i++) (i % 2 == 0 ? a : b).Add(records[i]);
        Assert.True(a.Count + b.Count <= 2_000, $"{a.Count} + {b.Count}");
        Assert.Equal(a.Count + b.Count, limit.Held);
        var totals = new Totals();
        a.Flush(T0 + 300_000_000, totals);
        b.Flush(T0 + 300_000_000, totals);
        a.Flush(T0 + 600_000_000, totals);
        b.Flush(T0 + 600_000_000, totals);
        Assert.Equal(0, limit.Held);
    }

    private sealed class NoNames : ISymbolNames
    {
        public string? Name(uint id) => null;
    }

    /// <summary>Decides each session of a flush with the exporter and adds up what it exports, upscaled.</summary>
    private sealed class Sampled(SessionExporter exporter) : ISessionVisitor
    {
        public long Exported;
        public double Upscaled;

        public void Visit(Session s, bool ended)
        {
            var d = exporter.Decide(s, ended);
            if (!d.Sampled) return;
            Exported++;
            Upscaled += (s.Forward.Bytes + s.Reverse.Bytes) * d.Scale;
        }
    }

    [Fact]
    public void A_flush_planned_from_the_table_keeps_to_the_export_target_from_its_first_interval()
    {
        // 30,000 sessions in the first second against a target of 1,000 a second, the threshold at 1 byte
        // (every session) as serve starts: measured before deciding, the flush exports about 900, not 30,000.
        var records = Traffic(30_000, 5);
        var s = new Sessionizer();
        foreach (var r in records) s.Add(r);
        var exporter = new SessionExporter(new SessionSampler(1000, initialThreshold: 1, new Random(11)), [], new NoNames());
        var visitor = new Sampled(exporter);
        exporter.Plan([s], 1);
        s.Flush(T0 + 1_000_000, visitor);
        exporter.EndInterval(1);
        Assert.InRange(visitor.Exported, 700, 1000);
        var truth = records.Sum(r => (double)r.Bytes);
        Assert.InRange(visitor.Upscaled / truth, 0.95, 1.05);
    }

    /// <summary>
    /// A steady flood of one-record sessions, flushed at long and short intervals in turn (as a decoder whose
    /// table fills asks for a flush between the timer's): each flush forgets most sessions, but the table
    /// keeps its room while it was full within the last minute instead of giving its pages back and touching
    /// them again every few seconds; a minute without the flood gives the memory back.
    /// </summary>
    [Fact]
    public void A_steady_flood_keeps_the_table_and_a_quiet_minute_gives_it_back()
    {
        var s = new Sessionizer(new SessionizerOptions { MaxSessions = 50_000 });
        var totals = new Totals();
        var batch = new FlowBatch(256);
        var now = T0;
        var port = 0;
        void Add(int sessions)
        {
            for (var i = 0; i < sessions; i++, port++)
            {
                batch.Add(new FlowRecord
                {
                    Exporter = FlowAddress.FromV4(0xC0000201), ObsDomain = 1, IpVersion = 4, IpProto = 17,
                    SrcAddr = FlowAddress.FromV4((uint)(0x0A000000 + port / 60_000)), DstAddr = FlowAddress.FromV4(0xAC100001),
                    SrcPort = (ushort)(1024 + port % 60_000), DstPort = 53, Bytes = 100, Packets = 1, Start = now, End = now,
                });
                if (batch.Count == batch.Capacity || i == sessions - 1)
                {
                    s.Add(batch);
                    batch.Clear();
                }
            }
        }
        var memory = new List<long>();
        for (var cycle = 0; cycle < 6; cycle++)
        {
            Add(40_000);
            s.Flush(now += 2_000_000, totals);
            memory.Add(s.MemoryBytes);
            Add(500);
            s.Flush(now += 100_000, totals);
            memory.Add(s.MemoryBytes);
        }
        Assert.Equal(0, s.Dropped);
        Assert.Equal(6 * 40_500, totals.Active);
        Assert.True(memory.Zip(memory.Skip(1)).All(p => p.Second >= p.First), $"table bytes after each flush: {string.Join(", ", memory)}");
        Assert.True(memory.Max() > 8 << 20, $"{memory.Max()} bytes for 40,000 sessions");
        // Quiet past the idle timeout and the minute: every session ends and the table is small again.
        s.Flush(now += 200_000_000, totals);
        s.Flush(now += 1_000_000, totals);
        Assert.Equal(0, s.Count);
        Assert.True(s.MemoryBytes < 1 << 20, $"{s.MemoryBytes} bytes held by an empty table");
    }
}
