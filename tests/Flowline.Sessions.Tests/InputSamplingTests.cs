using Flowline.Records;

namespace Flowline.Sessions.Tests;

/// <summary>
/// Input sampling (load shedding by key hash): a session is held whole or not at all, held sessions count N
/// times so that totals stay unbiased, and the sets selected at larger N are inside those of smaller N.
/// </summary>
public sealed class InputSamplingTests
{
    private static readonly FlowAddress Exporter = FlowAddress.Parse("192.0.2.1");
    private const long T0 = 1_790_000_000_000_000;

    private static FlowRecord Flow(FlowAddress src, ushort sport, FlowAddress dst, ushort dport, ulong bytes) => new()
    {
        Exporter = Exporter, ObsDomain = 1, SrcAddr = src, DstAddr = dst, SrcPort = sport, DstPort = dport, IpProto = 6, IpVersion = 4,
        Bytes = bytes, Packets = 1, SampledBytes = bytes, SampledPackets = 1, SamplingRate = 1, Start = T0, End = T0 + 1000,
    };

    /// <summary>Conversation <paramref name="i"/>: a client port of its own towards one of a few servers.</summary>
    private static (FlowRecord Forward, FlowRecord Reverse) Conversation(int i)
    {
        var client = FlowAddress.FromV4((uint)(0x0A000000 + i / 50_000));
        var server = FlowAddress.FromV4(0xC6336400u + (uint)(i % 7));
        var port = (ushort)(1024 + i % 50_000);
        return (Flow(client, port, server, 443, 100), Flow(server, 443, client, port, 900));
    }

    private static List<Session> Run(int sampling, int conversations, bool batch)
    {
        var s = new Sessionizer(new SessionizerOptions { MaxSessions = conversations + 10 }) { InputSampling = sampling };
        var b = new FlowBatch(4096);
        for (var i = 0; i < conversations; i++)
        {
            var (f, r) = Conversation(i);
            if (batch)
            {
                b.Add(f);
                b.Add(r);
                if (b.Count >= 4000)
                {
                    s.Add(b);
                    b.Clear();
                }
            }
            else
            {
                s.Add(f);
                s.Add(r);
            }
        }
        if (b.Count > 0) s.Add(b);
        Assert.Equal(2L * conversations, s.Records);
        Assert.Equal(2L * conversations - 2L * s.Count, s.SampledOut);
        return s.Flush(T0 + 10_000_000);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Held_sessions_are_whole_and_their_scaled_counts_estimate_the_totals(bool batch)
    {
        const int n = 200_000, sampling = 8;
        var all = Run(1, n, batch);
        Assert.Equal(n, all.Count);
        var held = Run(sampling, n, batch);
        // About one in eight is held (binomial: 25,000 ± 3 standard deviations of 148).
        Assert.InRange(held.Count, 25_000 - 450, 25_000 + 450);
        foreach (var session in held)
        {
            // Both directions together, each scaled by 8.
            Assert.Equal((800UL, 8UL, 7200UL, 8UL, 8U, 8U), (session.Forward.Bytes, session.Forward.Packets, session.Reverse.Bytes, session.Reverse.Packets,
                session.Forward.Flows, session.Reverse.Flows));
        }
        var estimate = held.Sum(x => (double)(x.Forward.Bytes + x.Reverse.Bytes));
        var truth = all.Sum(x => (double)(x.Forward.Bytes + x.Reverse.Bytes));
        Assert.InRange(estimate / truth, 0.98, 1.02);
    }

    [Fact]
    public void The_sessions_held_at_a_larger_sampling_are_among_those_held_at_a_smaller()
    {
        static HashSet<(FlowAddress, ushort)> Clients(List<Session> sessions) => sessions.Select(s => (s.ClientIp, s.ClientPort)).ToHashSet();
        var two = Clients(Run(2, 50_000, batch: true));
        var four = Clients(Run(4, 50_000, batch: true));
        var sixteen = Clients(Run(16, 50_000, batch: true));
        Assert.Subset(two, four);
        Assert.Subset(four, sixteen);
        Assert.InRange(sixteen.Count, 2_500, 3_750);
    }

    [Fact]
    public void A_session_held_when_the_sampling_changes_counts_each_record_by_the_sampling_of_its_time()
    {
        var s = new Sessionizer { InputSampling = 4 };
        // A conversation held at 4 (found by trying), then more of its records at 2 and at 1.
        var i = Enumerable.Range(0, 1000).First(k =>
        {
            var probe = new Sessionizer { InputSampling = 4 };
            probe.Add(Conversation(k).Forward);
            return probe.Count == 1;
        });
        var (f, _) = Conversation(i);
        s.Add(f);
        s.InputSampling = 2;
        s.Add(f);
        s.InputSampling = 1;
        s.Add(f);
        var session = Assert.Single(s.Flush(T0 + 10_000_000));
        Assert.Equal((400UL + 200 + 100, 4U + 2 + 1), (session.Forward.Bytes, session.Forward.Flows));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.InputSampling = 3);
    }
}
