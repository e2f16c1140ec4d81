using System.Buffers.Binary;
using Flowline.Wire.Encoders;
using Flowline.Records;
using Flowline.Wire.SFlow;

namespace Flowline.Wire.Tests;

/// <summary>Per-tenant forwarding's rewrite: only the samples of chosen interfaces, each byte for byte.</summary>
public sealed class SFlowSampleFilterTests
{
    private static readonly FlowAddress Agent = FlowAddress.Parse("192.0.2.1");

    private readonly struct Interfaces(params (FlowAddress Agent, uint IfIndex)[] wanted) : SFlowSampleFilter.IInterfaces
    {
        public bool Contains(FlowAddress agent, uint ifIndex) => wanted.Contains((agent, ifIndex));
    }

    /// <summary>The samples of a datagram (tag, length and body), each as its bytes, and the header's length.</summary>
    private static List<byte[]> Samples(ReadOnlySpan<byte> d, out int headerLength)
    {
        headerLength = BinaryPrimitives.ReadUInt32BigEndian(d[4..]) == 1 ? 28 : 40;
        var count = BinaryPrimitives.ReadUInt32BigEndian(d[(headerLength - 4)..]);
        var list = new List<byte[]>();
        var offset = headerLength;
        for (var i = 0; i < count; i++)
        {
            var length = 8 + (int)BinaryPrimitives.ReadUInt32BigEndian(d[(offset + 4)..]);
            list.Add(d.Slice(offset, length).ToArray());
            offset += length;
        }
        Assert.Equal(d.Length, offset);
        return list;
    }

    private static byte[] Mixed()
    {
        var flows = new[] { (11u, 2u, false), (3u, 12u, false), (5u, 6u, false), (13u, 0u, true) }.Select((x, i) =>
        {
            var r = TestFlows.Tcp4((uint)i);
            r.SamplingRate = 100;
            r.SampledBytes = 200;
            (r.InIf, r.OutIf) = (x.Item1, x.Item2);
            if (x.Item3) r.ForwardingStatus = 128 | 2; // dropped: output is "discarded", not an interface
            return r;
        }).ToArray();
        var counters = new[] { 12u, 7u }.Select(source =>
        {
            var c = new CounterRecord { Enterprise = 0, Format = 1, SourceId = source, SampleSequence = 1, Count = CounterSchema.GenericInterface.Names.Length };
            for (var i = 0; i < c.Count; i++) c.Values[i] = (ulong)i;
            return c;
        }).ToArray();
        var buffer = new byte[8192];
        var n = new SFlowEncoder { Agent = Agent }.Encode(flows, counters, buffer);
        // One more sample of another enterprise: it names no interface.
        var w = new WireWriter(buffer.AsSpan(n));
        w.U32((4413u << 12) | 5); w.U32(8); w.U32(11); w.U32(11);
        n += w.Position;
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(24), 7);
        return buffer.AsSpan(0, n).ToArray();
    }

    [Fact]
    public void Keeps_exactly_the_samples_of_the_wanted_interfaces_byte_for_byte()
    {
        var datagram = Mixed();
        var all = Samples(datagram, out var headerLength);
        Assert.Equal(7, all.Count);
        var output = new byte[datagram.Length];
        var outcome = SFlowSampleFilter.Filter(datagram, output, new Interfaces((Agent, 11), (Agent, 12), (Agent, 13)), out var length, out var kept);
        Assert.Equal(SFlowSampleFilter.Outcome.Kept, outcome);
        var rewritten = output.AsSpan(0, length).ToArray();
        // Input 11; output 12; input 13 (its output is a discard reason); the counters of ifIndex 12.
        Assert.Equal(4, kept);
        var samples = Samples(rewritten, out var rewrittenHeader);
        Assert.Equal(headerLength, rewrittenHeader);
        Assert.Equal(new[] { all[0], all[1], all[3], all[4] }, samples);
        // The header is the agent's own but for the sample count.
        Assert.Equal(datagram.AsSpan(0, headerLength - 4).ToArray(), rewritten.AsSpan(0, headerLength - 4).ToArray());
        var records = TestFlows.Decode(new FlowDecoder(), rewritten, out var result);
        Assert.True(result.IsOk, result.Describe(rewritten));
        Assert.Equal(new uint[] { 11, 3, 13 }, records.Select(r => r.InIf));
    }

    [Fact]
    public void Another_agents_interfaces_and_unknown_samples_are_not_wanted()
    {
        var datagram = Mixed();
        var output = new byte[datagram.Length];
        Assert.Equal(SFlowSampleFilter.Outcome.NoneKept,
            SFlowSampleFilter.Filter(datagram, output, new Interfaces((FlowAddress.Parse("192.0.2.2"), 11)), out var length, out var kept));
        Assert.Equal((0, 0), (length, kept));
        // ifIndex 0 is "unknown" in sFlow and 0x40000000 a discard: neither is an interface.
        Assert.Equal(SFlowSampleFilter.Outcome.NoneKept, SFlowSampleFilter.Filter(datagram, output, new Interfaces((Agent, 0), (Agent, 0x40000000)), out _, out _));
    }

    [Fact]
    public void Expanded_samples_are_matched_on_their_full_width_interface_numbers()
    {
        var buffer = new byte[512];
        var w = new WireWriter(buffer);
        w.U32(5); w.U32(1); w.U32(0xC0000201); w.U32(0); w.U32(9); w.U32(1000); w.U32(2);
        // expanded flow sample: source 0:1, input 70000, output 70001, no records
        w.U32(3); w.U32(44); w.U32(1); w.U32(0); w.U32(1); w.U32(256); w.U32(256); w.U32(0); w.U32(0); w.U32(70000); w.U32(0); w.U32(70001); w.U32(0);
        // expanded counter sample of 0:70002, no records
        w.U32(4); w.U32(16); w.U32(1); w.U32(0); w.U32(70002); w.U32(0);
        var datagram = buffer.AsSpan(0, w.Position).ToArray();
        var output = new byte[datagram.Length];
        Assert.Equal(SFlowSampleFilter.Outcome.Kept, SFlowSampleFilter.Filter(datagram, output, new Interfaces((Agent, 70001)), out var length, out var kept));
        Assert.Equal((1, 28 + 52), (kept, length));
        Assert.Equal(SFlowSampleFilter.Outcome.Kept, SFlowSampleFilter.Filter(datagram, output, new Interfaces((Agent, 70002)), out _, out kept));
        Assert.Equal(1, kept);
    }

    [Fact]
    public void A_datagram_that_is_not_whole_sflow_v5_is_malformed()
    {
        var datagram = Mixed();
        var output = new byte[datagram.Length];
        var everything = new Interfaces((Agent, 11), (Agent, 12));
        Assert.Equal(SFlowSampleFilter.Outcome.Malformed, SFlowSampleFilter.Filter(datagram.AsSpan(0, datagram.Length - 3), output, everything, out _, out _));
        Assert.Equal(SFlowSampleFilter.Outcome.Malformed, SFlowSampleFilter.Filter(datagram.AsSpan(0, 20), output, everything, out _, out _));
        var v4 = datagram.ToArray();
        v4[3] = 4;
        Assert.Equal(SFlowSampleFilter.Outcome.Malformed, SFlowSampleFilter.Filter(v4, output, everything, out _, out _));
        var claimsMore = datagram.ToArray();
        BinaryPrimitives.WriteUInt32BigEndian(claimsMore.AsSpan(24), 8);
        Assert.Equal(SFlowSampleFilter.Outcome.Malformed, SFlowSampleFilter.Filter(claimsMore, output, everything, out _, out _));
    }
}
