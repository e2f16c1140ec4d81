using System.Diagnostics;
using System.Net;
using Flowline.Mitigation.Bgp;
using Flowline.Records;
using Flowline.Wire.Bgp;
using Xunit.Abstractions;

namespace Flowline.Cli.Tests;

/// <summary>
/// Flowline's BGP speaker against three independent implementations from Debian: the session reaches
/// Established, the FlowSpec routes it announces show in the router's own view with their components and
/// actions (IPv4 and IPv6), a withdrawal takes them out, and a router that goes away and comes back gets
/// them again on the new session.
/// </summary>
public sealed class BgpInteropTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    public static FlowSpecRoute UdpReflection => new(new FlowSpecRule(false,
    [
        new FlowSpecComponent(FlowSpecType.DestinationPrefix, P("198.51.100.10/32")),
        FlowSpecComponent.Of(FlowSpecType.Protocol, NumericTerm.Equal(17)),
        FlowSpecComponent.Of(FlowSpecType.SourcePort, NumericTerm.Equal(53)),
    ]), [FlowSpecAction.Drop], []);

    public static FlowSpecRoute SynFlood6 => new(new FlowSpecRule(true,
    [
        new FlowSpecComponent(FlowSpecType.DestinationPrefix, P("2001:db8::10/128")),
        FlowSpecComponent.Of(FlowSpecType.Protocol, NumericTerm.Equal(6)),
        FlowSpecComponent.Of(FlowSpecType.TcpFlags, new BitmaskTerm(false, false, false, 0x02), new BitmaskTerm(true, true, false, 0x10)),
    ]), [new FlowSpecAction.RateLimit(12_500)], []);

    private static Prefix P(string text) => Prefix.TryParse(text, out var p) ? p : throw new FormatException(text);

    [Theory]
    [InlineData(BgpLab.Kind.Gobgp)]
    [InlineData(BgpLab.Kind.Exabgp)]
    [InlineData(BgpLab.Kind.Frr)]
    public async Task Routes_reach_the_router_and_leave_it(BgpLab.Kind kind)
    {
        using var lab = new BgpLab(kind);
        var lines = new StringWriter();
        using var logs = new Flowline.Server.Logging.LineLoggerProvider(TextWriter.Synchronized(lines), Flowline.Server.Logging.LogFormat.Text);
        await using var speaker = new BgpSpeaker(new BgpLocal(BgpLab.FlowlineAs, IPAddress.Parse("192.0.2.1")),
            [new BgpNeighbor(IPAddress.Loopback, BgpLab.RouterAs, lab.Port) { HoldTime = 9 }], logs.CreateLogger("bgp"));
        speaker.Start();
        try
        {
            await Until(() => speaker.Neighbors[0].State == BgpState.Established, "Established");
            Assert.Contains("ipv4-flowspec", speaker.Neighbors[0].Families);
            speaker.Announce(UdpReflection);
            speaker.Announce(SynFlood6);
            await Until(() => lab.Route("198.51.100.10/32") is not null, "the IPv4 route in the router's RIB");
            await Until(() => lab.Route("2001:db8::10/128") is not null, "the IPv6 route in the router's RIB");
            var (v4, v6) = (lab.Route("198.51.100.10/32")!, lab.Route("2001:db8::10/128")!);
            output.WriteLine(v4);
            output.WriteLine(v6);
            foreach (var part in Expected[kind].V4) Assert.Contains(part, v4, StringComparison.Ordinal);
            foreach (var part in Expected[kind].V6) Assert.Contains(part, v6, StringComparison.Ordinal);

            Assert.True(speaker.Withdraw(UdpReflection));
            await Until(() => lab.Route("198.51.100.10/32") is null, "the IPv4 route withdrawn");
            Assert.NotNull(lab.Route("2001:db8::10/128"));

            // The router goes away: the session drops (hold timer or closed connection) and comes back with the router, routes and all.
            lab.Restart();
            await Until(() => speaker.Neighbors[0].State != BgpState.Established, "the session down");
            await Until(() => lab.Route("2001:db8::10/128") is not null && speaker.Neighbors[0].State == BgpState.Established, "the route again after the router came back");
            Assert.Null(lab.Route("198.51.100.10/32"));
            Assert.True(speaker.Neighbors[0].Connects >= 2);
        }
        finally
        {
            output.WriteLine(lines.ToString());
            output.WriteLine(lab.Log.Length > 20_000 ? lab.Log[^20_000..] : lab.Log);
        }
    }

    /// <summary>
    /// RFC 8955's worked examples, from the RFC's own octets, announced with each action Flowline sends:
    /// gobgp parses every one back into what the RFC says it means.
    /// </summary>
    [Fact]
    public async Task Gobgp_parses_the_rfc_8955_examples_and_every_action()
    {
        using var lab = new BgpLab(BgpLab.Kind.Gobgp);
        await using var speaker = new BgpSpeaker(new BgpLocal(BgpLab.FlowlineAs, IPAddress.Parse("192.0.2.1")),
            [new BgpNeighbor(IPAddress.Loopback, BgpLab.RouterAs, lab.Port)]);
        speaker.Start();
        await Until(() => speaker.Neighbors[0].State == BgpState.Established, "Established");
        FlowSpecRule Rfc(string hex) => FlowSpecRule.Decode(Convert.FromHexString(hex.Replace(" ", "")), false, out _);
        (FlowSpecRoute Route, string Shows)[] cases =
        [
            (new(Rfc("0b 01 18 c0 00 02 03 81 06 04 81 19"), [new FlowSpecAction.RateLimit(12_500)], []),
                "[destination: 192.0.2.0/24][protocol: ==tcp][port: ==25]"),
            (new(Rfc("12 01 18 c0 00 02 02 18 cb 00 71 04 03 89 45 8b 91 1f 90"), [new FlowSpecAction.Redirect(65000, 666)], []),
                "[destination: 192.0.2.0/24][source: 203.0.113.0/24][port: >=137&<=139 ==8080]"),
            (new(Rfc("09 01 20 c0 00 02 01 0c 80 05"), [new FlowSpecAction.Mark(46), new FlowSpecAction.TrafficAction(true, false)], [FlowSpecAction.Blackhole]),
                "[destination: 192.0.2.1/32][fragment: dont-fragment+first-fragment]"),
        ];
        foreach (var (route, _) in cases) speaker.Announce(route);
        await Until(() => lab.FlowSpecRib(false).Split('\n').Count(l => l.Contains("[destination:", StringComparison.Ordinal)) == 3, "three routes");
        var rib = lab.FlowSpecRib(false);
        output.WriteLine(rib);
        string[] actions = ["rate: 12500", "redirect: 65000:666", "remark: 46", "action: sample", "Communities: blackhole"];
        foreach (var (_, shows) in cases) Assert.Contains(shows, rib, StringComparison.Ordinal);
        foreach (var a in actions) Assert.Contains(a, rib, StringComparison.Ordinal);
    }

    /// <summary>Several neighbours at once, one of them over IPv6 transport: each gets the routes.</summary>
    [Fact]
    public async Task Several_neighbours_one_over_ipv6_each_get_the_routes()
    {
        using var six = new BgpLab(BgpLab.Kind.Gobgp, ipv6: true);
        using var four = new BgpLab(BgpLab.Kind.Exabgp);
        await using var speaker = new BgpSpeaker(new BgpLocal(BgpLab.FlowlineAs, IPAddress.Parse("192.0.2.1")),
            [new BgpNeighbor(IPAddress.IPv6Loopback, BgpLab.RouterAs, six.Port), new BgpNeighbor(IPAddress.Loopback, BgpLab.RouterAs, four.Port)]);
        speaker.Start();
        await Until(() => speaker.Neighbors.All(n => n.State == BgpState.Established), "both Established");
        Assert.Equal("[::1]:" + six.Port, speaker.Neighbors[0].Neighbor);
        speaker.Announce(UdpReflection);
        await Until(() => six.Route("198.51.100.10/32") is not null && four.Route("198.51.100.10/32") is not null, "the route at both");
        speaker.Withdraw(UdpReflection);
        await Until(() => six.Route("198.51.100.10/32") is null && four.Route("198.51.100.10/32") is null, "withdrawn at both");
    }

    /// <summary>What each router prints for the two routes: components and action, in its own notation.</summary>
    private static readonly Dictionary<BgpLab.Kind, (string[] V4, string[] V6)> Expected = new()
    {
        [BgpLab.Kind.Gobgp] = (["[destination: 198.51.100.10/32][protocol: ==udp][source-port: ==53]", "[discard]"],
            ["[destination: 2001:db8::10/128/0][protocol: ==tcp][tcp-flags: S&!A]", "[rate: 12500.000000]"]),
        [BgpLab.Kind.Exabgp] = (["flow destination-ipv4 198.51.100.10/32 protocol =udp source-port =53\"", "\"rate-limit:0\""],
            ["flow destination-ipv6 2001:db8::10/128/0 next-header =tcp tcp-flags [ syn&!ack ]\"", "\"rate-limit:12500\""]),
        [BgpLab.Kind.Frr] = (["Destination Address 198.51.100.10/32", "IP Protocol = 17", "Source Port = 53", "FS:rate 0.000000"],
            ["Destination Address 2001:db8::10/128", "IP Protocol = 6", "TCP Flags \u220b 2,&\u220b ! 16", "FS:rate 12500.000000"]),
    };

    private static async Task Until(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > Deadline) throw new TimeoutException($"{what}: not within {Deadline.TotalSeconds:0} s");
            await Task.Delay(200);
        }
    }
}
