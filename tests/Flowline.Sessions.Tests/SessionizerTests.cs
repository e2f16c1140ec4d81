using Flowline.Wire.Generation;
using Flowline.Records;

namespace Flowline.Sessions.Tests;

public sealed class SessionizerTests
{
    private static readonly FlowAddress Exporter = FlowAddress.Parse("192.0.2.1");
    private const long T0 = 1_790_000_000_000_000;

    private static FlowRecord Flow(string src, ushort sport, string dst, ushort dport, byte proto, ulong bytes, ulong packets,
        long start, ushort flags = 0, uint rate = 1) => new()
    {
        Exporter = Exporter, ObsDomain = 1, SrcAddr = FlowAddress.Parse(src), DstAddr = FlowAddress.Parse(dst), SrcPort = sport, DstPort = dport,
        IpProto = proto, IpVersion = (byte)(src.Contains(':') ? 6 : 4), Bytes = bytes * rate, Packets = packets * rate, SampledBytes = bytes,
        SampledPackets = packets, SamplingRate = rate, Start = start, End = start + 500_000, TcpFlags = flags,
    };

    private static Session Only(Sessionizer s)
    {
        var sessions = s.Flush(T0 + 10_000_000);
        return Assert.Single(sessions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_TCP_connection_is_one_session_whose_client_sent_the_first_packet(bool reverseArrivesFirst)
    {
        const ushort synAckPshFin = 0x02 | 0x10 | 0x08 | 0x01;
        var forward = Flow("10.0.0.1", 40000, "10.0.0.2", 80, 6, 1200, 10, T0, synAckPshFin);
        var reverse = Flow("10.0.0.2", 80, "10.0.0.1", 40000, 6, 150_000, 110, T0 + 300, synAckPshFin);
        var s = new Sessionizer();
        if (reverseArrivesFirst) { s.Add(reverse); s.Add(forward); }
        else { s.Add(forward); s.Add(reverse); }
        var session = Only(s);
        Assert.Equal((FlowAddress.Parse("10.0.0.1"), (ushort)40000, FlowAddress.Parse("10.0.0.2"), (ushort)80),
            (session.ClientIp, session.ClientPort, session.ServerIp, session.ServerPort));
        Assert.Equal(ClientRule.FirstPacket, session.Rule);
        Assert.Equal((1200UL, 10UL, 150_000UL, 110UL), (session.Forward.Bytes, session.Forward.Packets, session.Reverse.Bytes, session.Reverse.Packets));
        Assert.Equal(T0, session.Setup);
        Assert.Equal(T0 + 300 + 500_000, session.Teardown); // FIN seen: ended at the last packet
        Assert.NotEqual(session.Forward.FlowId, session.Reverse.FlowId);
        Assert.True(session.LocalIsClient);
    }

    [Fact]
    public void Without_a_time_difference_the_service_port_decides_and_configured_ports_come_first()
    {
        // Both ends ephemeral-looking: the lower port is the server's unless a service port says otherwise.
        var s = new Sessionizer();
        s.Add(Flow("10.0.0.1", 5432, "10.0.0.9", 61000, 6, 500, 5, T0, 0x18));
        s.Add(Flow("10.0.0.9", 61000, "10.0.0.1", 5432, 6, 700, 6, T0, 0x18));
        var session = Only(s);
        Assert.Equal((ClientRule.ServicePort, FlowAddress.Parse("10.0.0.9"), (ushort)5432), (session.Rule, session.ClientIp, session.ServerPort));
        Assert.Equal(700UL, session.Forward.Bytes);

        var configured = new Sessionizer(new SessionizerOptions { ServicePorts = new HashSet<ushort> { 9000 } });
        configured.Add(Flow("10.0.0.1", 5000, "10.0.0.2", 9000, 6, 100, 1, T0, 0x18));
        configured.Add(Flow("10.0.0.2", 9000, "10.0.0.1", 5000, 6, 200, 2, T0, 0x18));
        Assert.Equal((FlowAddress.Parse("10.0.0.1"), (ushort)9000), Only(configured) is var c ? (c.ClientIp, c.ServerPort) : default);

        // A well-known port against an ephemeral one.
        var dns = new Sessionizer();
        dns.Add(Flow("10.0.0.53", 53, "10.0.0.7", 53124, 17, 180, 1, T0));
        dns.Add(Flow("10.0.0.7", 53124, "10.0.0.53", 53, 17, 60, 1, T0));
        var d = Only(dns);
        Assert.Equal((FlowAddress.Parse("10.0.0.7"), (ushort)53124, (ushort)53, 60UL, 180UL, 0L),
            (d.ClientIp, d.ClientPort, d.ServerPort, d.Forward.Bytes, d.Reverse.Bytes, d.Teardown));
    }

    [Fact]
    public void An_unanswered_SYN_makes_its_sender_the_client_whatever_the_ports()
    {
        var s = new Sessionizer();
        s.Add(Flow("10.0.0.1", 80, "10.0.0.2", 51000, 6, 60, 1, T0, 0x02));
        var session = Only(s);
        Assert.Equal((ClientRule.Syn, FlowAddress.Parse("10.0.0.1"), (ushort)51000), (session.Rule, session.ClientIp, session.ServerPort));
        Assert.False(session.Reverse.Seen);
    }

    [Theory]
    [InlineData("10.0.0.1", "10.0.0.2", 1, 8, 0)]
    [InlineData("fd00::1", "fd00::2", 58, 128, 129)]
    public void ICMP_echo_requests_and_replies_are_one_session_with_the_requester_as_client(string a, string b, byte proto, byte request, byte reply)
    {
        var s = new Sessionizer();
        // The reply arrives first and the requester has the higher address the other way round: neither decides.
        s.Add(Flow(b, 0, a, (ushort)(reply << 8), proto, 840, 10, T0));
        s.Add(Flow(a, 0, b, (ushort)(request << 8), proto, 840, 10, T0 + 1000));
        s.Add(Flow(b, 0, a, (ushort)(3 << 8 | 3), proto, 90, 1, T0)); // an unreachable message: a session of its own
        var sessions = s.Flush(T0 + 10_000_000);
        Assert.Equal(2, sessions.Count);
        var echo = Assert.Single(sessions, x => x.ServerPort == 0);
        Assert.Equal((ClientRule.Icmp, FlowAddress.Parse(a), FlowAddress.Parse(b), 840UL, 840UL),
            (echo.Rule, echo.ClientIp, echo.ServerIp, echo.Forward.Bytes, echo.Reverse.Bytes));
        var lone = Assert.Single(sessions, x => x.ServerPort != 0);
        Assert.Equal((FlowAddress.Parse(b), (ushort)0x0303, 90UL), (lone.ClientIp, lone.ServerPort, lone.Forward.Bytes));
    }

    [Fact]
    public void A_port_on_the_server_side_records_the_server_part_with_sent_and_received_from_its_end()
    {
        var s = new Sessionizer();
        var forward = Flow("10.0.0.1", 40000, "10.0.0.2", 443, 6, 1000, 8, T0, 0x1A) with { Account = 7, Vmi = 21, VmiDirection = VmiDirections.Ingress, SgRule = 99, Action = FlowAction.Pass };
        var reverse = Flow("10.0.0.2", 443, "10.0.0.1", 40000, 6, 9000, 12, T0 + 10, 0x1A) with { Account = 7, Vmi = 21, VmiDirection = VmiDirections.Egress, SgRule = 99, Action = FlowAction.Pass };
        s.Add(forward);
        s.Add(reverse);
        var session = Only(s);
        Assert.False(session.LocalIsClient);
        Assert.Equal((FlowAddress.Parse("10.0.0.2"), FlowAddress.Parse("10.0.0.1"), 9000UL, 1000UL),
            (session.LocalIp, session.RemoteIp, session.Tx.Bytes, session.Rx.Bytes));

        var agg = new EndpointAggregator();
        agg.Add(session, sampled: true, scale: 1, logged: false);
        var endpoint = Assert.Single(agg.Endpoints);
        Assert.False(endpoint.Identity.IsClientSession);
        Assert.Equal(99u, endpoint.Identity.SgRule);
        var (key, aggregate) = Assert.Single(endpoint.Aggregates);
        Assert.Equal(new AggregateKey(FlowAddress.Parse("10.0.0.2"), 6, 443), key);
        var (sessionKey, info) = Assert.Single(aggregate.Sessions);
        Assert.Equal(new SessionKey(FlowAddress.Parse("10.0.0.1"), 40000), sessionKey);
        Assert.Equal((9000L, 12L, 1000L, 8L), (info.Counts.SampledTxBytes, info.Counts.SampledTxPackets, info.Counts.SampledRxBytes, info.Counts.SampledRxPackets));
        var server = Assert.Single(Assert.Single(agg.SecurityStats).Rules[99].Server);
        Assert.Equal((1L, 9000L, 1000L), (server.Value.Hits, server.Value.TxBytes, server.Value.RxBytes));
    }

    [Fact]
    public void Flushes_hand_out_what_came_since_the_last_and_forget_ended_and_idle_sessions()
    {
        var s = new Sessionizer(new SessionizerOptions { IdleTimeout = 60_000_000 });
        s.Add(Flow("10.0.0.1", 40000, "10.0.0.2", 80, 6, 100, 1, T0, 0x02));
        s.Add(Flow("10.0.0.1", 53000, "10.0.0.53", 53, 17, 70, 1, T0));
        Assert.Equal(2, s.Flush(T0 + 1_000_000).Count);
        s.Add(Flow("10.0.0.1", 40000, "10.0.0.2", 80, 6, 40, 1, T0 + 2_000_000, 0x11));
        var second = Assert.Single(s.Flush(T0 + 3_000_000));
        Assert.Equal((40UL, ClientRule.Syn), (second.Forward.Bytes, second.Rule)); // the decision stays with the session
        var ended = new List<Session>();
        Assert.Empty(s.Flush(T0 + 4_000_000, ended));
        Assert.Equal(6, Assert.Single(ended).Protocol); // the TCP session ended with its FIN; DNS is not idle yet
        Assert.Empty(s.Flush(T0 + 61_000_000, ended));
        Assert.Equal(17, ended[1].Protocol);
        Assert.Equal(0, s.Count);
    }

    [Fact]
    public void Aggregates_equal_the_sums_of_their_flows_and_take_far_fewer_rows_than_one_way_flows()
    {
        // Generated conversations, each a flow and its answer (a few left unanswered), many clients per service.
        var g = new TrafficGenerator(5, hosts: 200);
        var flows = new List<FlowRecord>();
        for (var i = 0; i < 10_000; i++)
        {
            var f = g.Next();
            flows.Add(f);
            if (i % 50 == 0) continue;
            flows.Add(f with
            {
                SrcAddr = f.DstAddr, DstAddr = f.SrcAddr, SrcPort = f.DstPort, DstPort = f.SrcPort, Start = f.Start + 700, End = f.End + 700,
                Bytes = f.Bytes * 3 + 40, Packets = f.Packets + 1, SampledBytes = f.SampledBytes * 3 + 40, SampledPackets = f.SampledPackets + 1,
            });
        }
        var s = new Sessionizer();
        foreach (var f in flows) s.Add(f);
        var sessions = s.Flush(long.MaxValue / 2);
        var agg = new EndpointAggregator();
        foreach (var session in sessions) agg.Add(session, sampled: true, scale: 1, logged: false);

        // Every byte of every flow is in exactly one direction of one session, and of one aggregate.
        var flowBytes = flows.Aggregate(0UL, (t, f) => t + f.Bytes);
        var flowPackets = flows.Aggregate(0UL, (t, f) => t + f.Packets);
        Assert.Equal(flowBytes, sessions.Aggregate(0UL, (t, x) => t + x.Forward.Bytes + x.Reverse.Bytes));
        long tx = 0, rx = 0, packets = 0;
        foreach (var endpoint in agg.Endpoints)
        {
            foreach (var aggregate in endpoint.Aggregates.Values)
            {
                var sum = default(SessionCounts);
                foreach (var info in aggregate.Sessions.Values) sum.Add(info.Counts);
                Assert.Equal(sum, aggregate.Counts);
                tx += aggregate.Counts.SampledTxBytes;
                rx += aggregate.Counts.SampledRxBytes;
                packets += aggregate.Counts.SampledTxPackets + aggregate.Counts.SampledRxPackets;
            }
        }
        Assert.Equal((long)flowBytes, tx + rx);
        Assert.Equal((long)flowPackets, packets);
        Assert.True(sessions.Count <= flows.Count * 0.6, $"{sessions.Count} sessions from {flows.Count} flows");
        Assert.True(agg.AggregateCount < sessions.Count, $"{agg.AggregateCount} aggregates from {sessions.Count} sessions");
    }

    [Theory]
    [InlineData(SessionObservation.Auto, 1000UL, 3000UL)]
    [InlineData(SessionObservation.Ingress, 1000UL, 3000UL)]
    [InlineData(SessionObservation.Egress, 1000UL, 3000UL)]
    [InlineData(SessionObservation.Both, 2000UL, 6000UL)]
    public void A_packet_reported_where_it_enters_and_where_it_leaves_counts_once(SessionObservation observation, ulong forward, ulong reverse)
    {
        // Open vSwitch's IPFIX: every packet twice, flowDirection 0 at ingress and 1 at egress.
        var s = new Sessionizer(new SessionizerOptions { Observation = observation });
        foreach (byte direction in new byte[] { 0, 1 })
        {
            s.Add(Flow("10.0.0.1", 40000, "10.0.0.2", 80, 6, 1000, 10, T0) with { Direction = direction });
            s.Add(Flow("10.0.0.2", 80, "10.0.0.1", 40000, 6, 3000, 12, T0 + 300) with { Direction = direction });
        }
        var session = Only(s);
        Assert.Equal((forward, reverse), (session.Forward.Bytes, session.Reverse.Bytes));
        Assert.Equal(observation == SessionObservation.Both ? 0 : 2, s.OtherObservation);

        // Exporters that report no direction are never left out.
        var unknown = new Sessionizer(new SessionizerOptions { Observation = observation });
        unknown.Add(Flow("10.0.0.1", 40000, "10.0.0.2", 80, 6, 1000, 10, T0) with { Direction = FlowRecord.DirectionUnknown });
        Assert.Equal(1000UL, Only(unknown).Forward.Bytes);
    }

    [Theory]
    // softflowd: each packet once, marked ingress (into the host) or egress (out of it): both directions count.
    [InlineData(new byte[] { 0 }, new byte[] { 1 }, 1000UL, 3000UL)]
    // Open vSwitch, seen from one port of another network: the reply only where it leaves towards the port.
    [InlineData(new byte[] { 0, 1 }, new byte[] { 1 }, 1000UL, 3000UL)]
    // Both observations, the egress one first: counted once, as the ingress one.
    [InlineData(new byte[] { 1, 0 }, new byte[] { 1, 0 }, 1000UL, 3000UL)]
    public void Auto_counts_each_direction_once_whichever_observations_the_exporter_sends(byte[] forwardSeen, byte[] replySeen, ulong forward, ulong reverse)
    {
        var s = new Sessionizer();
        foreach (var d in forwardSeen) s.Add(Flow("10.0.0.1", 40000, "10.0.0.2", 80, 6, 1000, 10, T0) with { Direction = d });
        foreach (var d in replySeen) s.Add(Flow("10.0.0.2", 80, "10.0.0.1", 40000, 6, 3000, 12, T0 + 300) with { Direction = d });
        var session = Only(s);
        Assert.Equal((forward, reverse), (session.Forward.Bytes, session.Reverse.Bytes));
        Assert.Equal((10UL, 12UL), (session.Forward.Packets, session.Reverse.Packets));
        // Left out, or counted and then replaced by the ingress observation of the same packets.
        var ingressOnly = new Sessionizer(new SessionizerOptions { Observation = SessionObservation.Ingress });
        foreach (var d in forwardSeen) ingressOnly.Add(Flow("10.0.0.1", 40000, "10.0.0.2", 80, 6, 1000, 10, T0) with { Direction = d });
        foreach (var d in replySeen) ingressOnly.Add(Flow("10.0.0.2", 80, "10.0.0.1", 40000, 6, 3000, 12, T0 + 300) with { Direction = d });
        if (!replySeen.Contains((byte)0)) Assert.Equal(0UL, Only(ingressOnly).Reverse.Bytes);
    }

    [Fact]
    public void A_remote_end_with_known_tags_is_named_by_them_instead_of_its_prefix()
    {
        var s = new Sessionizer();
        s.Add(Flow("10.0.0.1", 40000, "10.0.0.2", 80, 6, 1000, 10, T0) with { Account = 7, Vmi = 70, VmiDirection = VmiDirections.Egress });
        s.Add(Flow("10.0.0.1", 40001, "10.0.0.3", 80, 6, 500, 5, T0) with { Account = 7, Vmi = 70, VmiDirection = VmiDirections.Egress });
        var sessions = s.Flush(T0 + 10_000_000);
        var server = FlowAddress.Parse("10.0.0.2");
        var agg = new EndpointAggregator((account, vn, address) => account == 7 && address == server ? (11u, 12u, 13u, 14u) : null);
        foreach (var session in sessions) agg.Add(session, sampled: true, scale: 1, logged: false);
        var byRemote = agg.Endpoints.ToDictionary(e => e.Identity.RemotePrefix.IsNone ? "tags" : e.Identity.RemotePrefix.ToString());
        Assert.Equal(2, byRemote.Count);
        var tagged = byRemote["tags"].Identity;
        Assert.Equal((11u, 12u, 13u, 14u), (tagged.RemoteApp, tagged.RemoteTier, tagged.RemoteSite, tagged.RemoteDeployment));
        Assert.Equal(0u, byRemote["10.0.0.0/24"].Identity.RemoteApp);
    }
}
