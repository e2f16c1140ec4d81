using Flowline.Records;
using Flowline.Storage;

namespace Flowline.Sessions.Tests;

public sealed class SessionRowWriterTests
{
    private const long T0 = 1_790_000_000_000_000;

    /// <summary>Sessions of one local client with <paramref name="remotes"/> servers, each in a /24 of its own.</summary>
    private static List<Session> Sessions(int remotes, int first = 0)
    {
        var s = new Sessionizer();
        for (var i = first; i < first + remotes; i++)
        {
            s.Add(new FlowRecord
            {
                Exporter = FlowAddress.Parse("192.0.2.1"), ObsDomain = 1, IpVersion = 4, IpProto = 6, TcpFlags = 0x02,
                SrcAddr = FlowAddress.Parse("10.0.0.1"), DstAddr = FlowAddress.FromV4((uint)(0x64000001 + (i << 8))),
                SrcPort = (ushort)(40_000 + i % 20_000), DstPort = 443, Bytes = 100, Packets = 1, SampledBytes = 100, SampledPackets = 1,
                SamplingRate = 1, Start = T0, End = T0,
            });
        }
        return s.Flush(T0 + 10_000_000);
    }

    [Fact]
    public void Remote_prefixes_are_named_while_the_symbol_table_has_room_and_then_by_their_familys_slash_0()
    {
        var symbols = new SymbolTable();
        var rows = new List<FlowRecord>();
        var writer = new SessionRowWriter(new SessionExporter(new SessionSampler(0), [], symbols), symbols,
            b => rows.AddRange(Enumerable.Range(0, b.Count).Select(i => b[i])), chunkRows: 64, maxNames: 100);
        foreach (var s in Sessions(300)) writer.Add(s, sampled: true, scale: 1, logged: false);
        writer.Complete();
        Assert.Equal(300, rows.Count);
        var names = rows.Select(r => symbols.Name(r.RemotePrefix)).ToList();
        // Remote addresses are strangers': the table stops growing at the limit, the rest count under 0.0.0.0/0.
        Assert.InRange(symbols.Count, 99, 101);
        Assert.Equal(300 - (symbols.Count - 1), names.Count(n => n == "0.0.0.0/0"));
        Assert.Equal(300 - (symbols.Count - 1), writer.PrefixesFolded);
        Assert.All(names.Where(n => n != "0.0.0.0/0"), n => Assert.Matches(@"^100\.\d+\.\d+\.0/24$", n));

        // A prefix named before the table filled keeps its name.
        var named = rows.First(r => symbols.Name(r.RemotePrefix) != "0.0.0.0/0");
        rows.Clear();
        var again = new SessionRowWriter(new SessionExporter(new SessionSampler(0), [], symbols), symbols,
            b => rows.AddRange(Enumerable.Range(0, b.Count).Select(i => b[i])), maxNames: 100);
        foreach (var s in Sessions(300)) again.Add(s, sampled: true, scale: 1, logged: false);
        again.Complete();
        Assert.Contains(rows, r => r.RemotePrefix == named.RemotePrefix && r.DstAddr == named.DstAddr);
        Assert.InRange(symbols.Count, 99, 101);
    }
}
