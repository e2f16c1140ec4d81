using Flowline.Records;
using Flowline.Storage.Agents;

namespace Flowline.Storage.Tests;

/// <summary>The agent's batch file: what goes in comes out, with the receiver's symbol ids; damage is a clear error.</summary>
public sealed class AgentBatchTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-batch-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static FlowBatch Rows(SymbolTable symbols, int n, bool sessions)
    {
        var batch = new FlowBatch(n);
        var account = symbols.Intern("acc-1");
        var vn = symbols.Intern("default-domain:tenant:net");
        for (var i = 0; i < n; i++)
        {
            batch.Add(new FlowRecord
            {
                Start = 1_790_000_000_000_000 + i, End = 1_790_000_000_000_000 + i + 5, Exporter = FlowAddress.FromV4(0x7F000001),
                SrcAddr = FlowAddress.FromV4((uint)(0x0A000000 + i)), DstAddr = FlowAddress.FromV4(0x08080808), SrcPort = (ushort)(1024 + i % 5000),
                DstPort = 53, IpProto = 17, IpVersion = 4, Bytes = (ulong)(100 + i), Packets = 1, Account = account, SrcVn = vn,
                RemotePrefix = sessions ? symbols.Intern($"8.8.{i % 7}.0/24") : 0, RevBytes = sessions ? (ulong)i : 0,
                SessionFlags = sessions ? SessionFlags.Client : (byte)0, SetupTime = sessions ? 1_790_000_000_000_000 : 0,
            });
        }
        return batch;
    }

    [Fact]
    public void Rows_come_back_whole_with_the_receivers_names_in_a_few_bytes_each()
    {
        var agentSymbols = new SymbolTable();
        agentSymbols.Intern("something only the agent has");
        var sessions = Rows(agentSymbols, 20_000, sessions: true);
        var flows = Rows(agentSymbols, 30_000, sessions: false);
        var backlog = Directory.CreateDirectory(Path.Combine(_dir.FullName, "backlog")).FullName;
        using var builder = new AgentBatch.Builder(backlog, blockRows: 4096);
        builder.AddSessions(sessions);
        builder.AddFlows(flows);
        var path = Path.Combine(backlog, "batch-000000000007.flb");
        Assert.True(builder.Seal(path, "node-a", 7, 123, agentSymbols));
        Assert.False(builder.Seal(Path.Combine(backlog, "batch-000000000008.flb"), "node-a", 8, 124, agentSymbols)); // nothing new
        Assert.Equal(["batch-000000000007.flb"], Directory.GetFiles(backlog).Select(Path.GetFileName));
        var body = File.ReadAllBytes(path);
        Assert.True(body.Length < 50_000 * 16, $"{body.Length} bytes for 50,000 rows");

        var collector = new SymbolTable();
        collector.Intern("a name the collector had first");
        var got = new List<(FlowRecord Row, bool Session)>();
        var header = AgentBatch.Read(body, _dir.FullName, collector, (rows, isSession) =>
        {
            for (var i = 0; i < rows.Count; i++) got.Add((rows[i], isSession));
        });
        Assert.Equal(("node-a", 7L, 123L), (header.Agent, header.Sequence, header.Time));
        Assert.Equal(50_000, got.Count);
        Assert.Equal(20_000, got.Count(g => g.Session));
        for (var i = 0; i < 20_000; i++)
        {
            var (row, _) = got[i];
            var sent = sessions[i];
            Assert.Equal((sent.SrcAddr, sent.Bytes, sent.RevBytes, sent.SessionFlags), (row.SrcAddr, row.Bytes, row.RevBytes, row.SessionFlags));
            Assert.Equal(agentSymbols.Name(sent.RemotePrefix), collector.Name(row.RemotePrefix));
            Assert.Equal("acc-1", collector.Name(row.Account));
            Assert.Equal("default-domain:tenant:net", collector.Name(row.SrcVn));
        }
        Assert.Equal(flows.Bytes.AsSpan(0, 30_000).ToArray().Aggregate(0UL, (a, b) => a + b), got.Where(g => !g.Session).Aggregate(0UL, (a, g) => a + g.Row.Bytes));
        Assert.Empty(Directory.GetFiles(_dir.FullName)); // scratch segments removed
    }

    [Fact]
    public void A_damaged_batch_is_refused_with_a_reason()
    {
        var symbols = new SymbolTable();
        var backlog = Directory.CreateDirectory(Path.Combine(_dir.FullName, "b")).FullName;
        using var builder = new AgentBatch.Builder(backlog);
        builder.AddSessions(Rows(symbols, 1000, sessions: true));
        var path = Path.Combine(backlog, "batch-1.flb");
        Assert.True(builder.Seal(path, "node-a", 1, 1, symbols));
        var body = File.ReadAllBytes(path);
        void Refused(byte[] bad, string why)
        {
            var e = Assert.Throws<FormatException>(() => AgentBatch.Read(bad, _dir.FullName, new SymbolTable(), (_, _) => { }));
            Assert.Contains(why, e.Message, StringComparison.Ordinal);
        }
        Refused(body[..(body.Length - 100)], "bytes of rows");
        Refused("FLBATCH1\xff\xff\xff\x7f"u8.ToArray(), "header");
        Refused([.. "FLBATCH1"u8, 2, 0, 0, 0, .. "{}"u8], "has no agent");
        var flipped = body.ToArray();
        flipped[^200] ^= 0xFF;
        Refused(flipped, "damaged");
        Assert.False(AgentBatch.IsBatch("{\"agent\":\"x\"}"u8));
    }

    [Theory]
    [InlineData(false, FlowTime.MaxMicros + 1)]
    [InlineData(true, FlowTime.MinMicros - 1)]
    public void A_batch_with_a_time_beyond_the_calendar_is_refused(bool sessions, long time)
    {
        var symbols = new SymbolTable();
        var rows = Rows(symbols, 100, sessions);
        if (sessions) rows.SetupTime[42] = time;
        else rows.End[42] = time;
        var backlog = Directory.CreateDirectory(Path.Combine(_dir.FullName, "t")).FullName;
        using var builder = new AgentBatch.Builder(backlog);
        if (sessions) builder.AddSessions(rows);
        else builder.AddFlows(rows);
        var path = Path.Combine(backlog, "batch-1.flb");
        Assert.True(builder.Seal(path, "node-a", 1, 1, symbols));
        var e = Assert.Throws<FormatException>(() => AgentBatch.Read(File.ReadAllBytes(path), _dir.FullName, new SymbolTable(), (_, _) => { }));
        Assert.Contains("beyond the years 1 to 9999", e.Message, StringComparison.Ordinal);
    }
}
