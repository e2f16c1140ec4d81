using Flowline.Records;
using Flowline.Wire.Encoders;
using Flowline.Wire.Packets;

namespace Flowline.Wire.Tests;

/// <summary>
/// Fragmentation in the record (ip_fragment): from an IPv4 header's MF flag and offset, from an IPv6
/// fragment header, and from IPFIX's fragmentFlags (197) and fragmentOffset (88).
/// </summary>
public sealed class FragmentTests
{
    private static FlowRecord Udp4(uint i)
    {
        var r = TestFlows.Tcp4(i);
        (r.IpProto, r.TcpFlags) = (17, 0);
        return r;
    }

    [Theory]
    [InlineData(4, FlowFragment.None)]
    [InlineData(4, FlowFragment.First)]
    [InlineData(4, FlowFragment.Later)]
    [InlineData(6, FlowFragment.None)]
    [InlineData(6, FlowFragment.First)]
    [InlineData(6, FlowFragment.Later)]
    public void A_sampled_header_tells_first_and_later_fragments(int version, byte fragment)
    {
        var sent = version == 4 ? Udp4(3) : TestFlows.Udp6(3);
        sent.IpFragment = fragment;
        var frame = new byte[256];
        var n = PacketBuilder.Write(sent, frame, 200);
        var r = new FlowRecord();
        PacketParser.ParseEthernet(frame.AsSpan(0, n), ref r, 0, DecodeLimits.Default);
        Assert.Equal(fragment, r.IpFragment);
        Assert.Equal(17, r.IpProto);
        // A later fragment has no transport header: no ports.
        Assert.Equal(fragment == FlowFragment.Later ? (ushort)0 : sent.SrcPort, r.SrcPort);
    }

    [Fact]
    public void Ipfix_fragment_flags_and_offset_round_trip()
    {
        var encoder = new TemplateFlowEncoder(FlowProtocol.Ipfix, 1) { Fragments = true };
        var flows = new[] { Udp4(0), Udp4(1), Udp4(2) };
        flows[1].IpFragment = FlowFragment.First;
        flows[2].IpFragment = FlowFragment.Later;
        var buffer = new byte[8192];
        var n = encoder.EncodeData(flows, buffer, 1_795_000_002_000_000, 0, includeTemplates: true);
        var decoded = TestFlows.Decode(new FlowDecoder(), buffer.AsSpan(0, n), out var result);
        Assert.True(result.IsOk, result.ToString());
        Assert.Equal([FlowFragment.None, FlowFragment.First, FlowFragment.Later], decoded.Select(r => r.IpFragment));
        // Without the fields the records say nothing of fragmentation.
        n = new TemplateFlowEncoder(FlowProtocol.Ipfix, 1).EncodeData(flows, buffer, 1_795_000_002_000_000, 0, includeTemplates: true);
        Assert.All(TestFlows.Decode(new FlowDecoder(), buffer.AsSpan(0, n), out _), r => Assert.Equal(0, r.IpFragment));
    }
}
