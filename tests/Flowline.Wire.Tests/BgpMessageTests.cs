using System.Net;
using Flowline.Records;
using Flowline.Wire.Bgp;

namespace Flowline.Wire.Tests;

/// <summary>BGP-4 messages as Flowline's FlowSpec speaker writes and reads them (RFC 4271, 4760, 6793, 8955).</summary>
public sealed class BgpMessageTests
{
    private static readonly FlowSpecRule Rule = new(false,
    [
        new(FlowSpecType.DestinationPrefix, Prefix.TryParse("192.0.2.0/24", out var p) ? p : default),
        FlowSpecComponent.Of(FlowSpecType.Protocol, NumericTerm.Equal(17)),
        FlowSpecComponent.Of(FlowSpecType.SourcePort, NumericTerm.Equal(53)),
    ]);

    [Fact]
    public void A_keepalive_is_the_bare_header()
    {
        Assert.Equal(new string('f', 32) + "001304", Convert.ToHexStringLower(BgpMessage.Keepalive()));
    }

    [Fact]
    public void An_open_carries_the_families_route_refresh_and_a_four_octet_as()
    {
        var open = new BgpOpen(4_200_000_000, 90, IPAddress.Parse("192.0.2.1"), [BgpFamily.Ipv4FlowSpec, BgpFamily.Ipv6FlowSpec]);
        var m = BgpMessage.Open(open);
        Assert.Equal(m.Length, BgpMessage.PeekLength(m));
        Assert.Equal((byte)BgpMessageType.Open, m[18]);
        var body = m.AsSpan(BgpMessage.HeaderLength);
        Assert.Equal("04" + "5ba0" + "005a" + "c0000201", Convert.ToHexStringLower(body[..9])); // version, AS_TRANS, hold time, identifier
        var read = BgpMessage.ReadOpen(body);
        Assert.Equal((4_200_000_000u, (ushort)90, "192.0.2.1", true, true), (read.As, read.HoldTime, read.RouterId.ToString(), read.RouteRefresh, read.FourOctetAs));
        Assert.Equal([BgpFamily.Ipv4FlowSpec, BgpFamily.Ipv6FlowSpec], read.Families);
        Assert.Throws<FormatException>(() => BgpMessage.ReadOpen([3, 0, 1, 0, 90, 1, 2, 3, 4, 0]));
    }

    [Fact]
    public void An_update_announces_flowspec_rules_with_their_actions_and_another_withdraws_them()
    {
        var m = BgpMessage.Announce(BgpFamily.Ipv4FlowSpec, [Rule], [FlowSpecAction.Drop], 65001, external: true, [FlowSpecAction.Blackhole]);
        Assert.Equal(m.Length, BgpMessage.PeekLength(m));
        var read = BgpMessage.ReadUpdate(m.AsSpan(BgpMessage.HeaderLength));
        Assert.Equal(BgpFamily.Ipv4FlowSpec, read.Family);
        Assert.Equal(Convert.ToHexString(Rule.Encode()), Convert.ToHexString(Assert.Single(read.Announced).Encode()));
        Assert.Equal([FlowSpecAction.Drop], read.Actions);
        Assert.Equal([FlowSpecAction.Blackhole], read.Communities);
        var withdraw = BgpMessage.Withdraw(BgpFamily.Ipv4FlowSpec, [Rule]);
        var gone = BgpMessage.ReadUpdate(withdraw.AsSpan(BgpMessage.HeaderLength));
        Assert.Equal(Convert.ToHexString(Rule.Encode()), Convert.ToHexString(Assert.Single(gone.Withdrawn).Encode()));
        Assert.Empty(gone.Announced);
        // Towards an internal peer: no AS in the path, LOCAL_PREF 100.
        var ibgp = BgpMessage.Announce(BgpFamily.Ipv4FlowSpec, [Rule], [FlowSpecAction.Drop], 65001, external: false);
        Assert.Contains("40050400000064", Convert.ToHexStringLower(ibgp));
        Assert.Contains("400200", Convert.ToHexStringLower(ibgp));
    }

    [Fact]
    public void Bad_headers_and_cut_short_updates_are_refused()
    {
        var good = BgpMessage.Keepalive();
        Assert.Equal(0, BgpMessage.PeekLength(good.AsSpan(0, 18)));
        var marker = (byte[])good.Clone();
        marker[3] = 0;
        Assert.Contains("marker", Assert.Throws<FormatException>(() => BgpMessage.PeekLength(marker)).Message);
        foreach (var length in new[] { 18, 4097 })
        {
            var bad = (byte[])good.Clone();
            bad[16] = (byte)(length >> 8);
            bad[17] = (byte)length;
            Assert.Contains($"length of {length}", Assert.Throws<FormatException>(() => BgpMessage.PeekLength(bad)).Message);
        }
        var update = BgpMessage.Announce(BgpFamily.Ipv4FlowSpec, [Rule], [FlowSpecAction.Drop], 65001, external: true);
        for (var cut = BgpMessage.HeaderLength; cut < update.Length; cut++)
        {
            var body = update.AsSpan(BgpMessage.HeaderLength, cut - BgpMessage.HeaderLength).ToArray();
            Assert.Throws<FormatException>(() => BgpMessage.ReadUpdate(body));
        }
    }
}
