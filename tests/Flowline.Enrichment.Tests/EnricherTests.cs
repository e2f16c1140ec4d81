using Flowline.Storage;
using Flowline.Records;

namespace Flowline.Enrichment.Tests;

public sealed class EnricherTests
{
    /// <summary>Two tenants on the same 10.0.0.0/24, told apart by VLAN and by the switch ports their VMs sit on.</summary>
    internal const string TwoTenants = """
        accounts:
          - {id: acc-a, name: A}
          - {id: acc-b, name: B}
        networks:
          - {name: "d:a:net", account: acc-a, subnets: [10.0.0.0/24], vlan: 100}
          - {name: "d:b:net", account: acc-b, subnets: [10.0.0.0/24], vlan: 200, vni: 5200}
          - {name: public, public: true}
        security_groups:
          - uuid: sg-a
            name: a-web
            account: acc-a
            rules:
              - {uuid: rule-a-http, direction: ingress, protocol: tcp, ports: 80, remote: 0.0.0.0/0}
              - {uuid: rule-a-out, direction: egress, remote: 0.0.0.0/0}
          - uuid: sg-b
            name: b-db
            account: acc-b
            rules:
              - {uuid: rule-b-sql, direction: ingress, protocol: tcp, ports: 5432, remote_group: b-db}
        ports:
          - {uuid: vmi-a1, account: acc-a, network: "d:a:net", mac: "02:00:00:00:0a:01", ips: [10.0.0.1], exporter: 192.0.2.1, ifindex: 11, ofport: 1, tags: {app: web, tier: front}, security_groups: [a-web]}
          - {uuid: vmi-a2, account: acc-a, network: "d:a:net", mac: "02:00:00:00:0a:02", ips: [10.0.0.2], exporter: 192.0.2.1, ifindex: 12, ofport: 2, tags: {app: web}, security_groups: [a-web]}
          - {uuid: vmi-b1, account: acc-b, network: "d:b:net", mac: "02:00:00:00:0b:01", ips: [10.0.0.1], exporter: 192.0.2.1, ifindex: 13, ofport: 3, tags: {app: db}, security_groups: [b-db]}
          - {uuid: vmi-b2, account: acc-b, network: "d:b:net", mac: "02:00:00:00:0b:02", ips: [10.0.0.2], exporter: 192.0.2.1, ifindex: 14, ofport: 4, tags: {app: db}, security_groups: [b-db]}
        """;

    private static readonly FlowAddress Exporter = FlowAddress.Parse("192.0.2.1");

    internal static FlowRecord Flow(string src, string dst, ushort sport, ushort dport, byte proto = 6, uint inIf = 0, uint outIf = 0,
        ushort vlan = 0, FlowProtocol protocol = FlowProtocol.SFlow5) => new()
    {
        Protocol = protocol, Exporter = Exporter, SrcAddr = FlowAddress.Parse(src), DstAddr = FlowAddress.Parse(dst), SrcPort = sport,
        DstPort = dport, IpProto = proto, IpVersion = 4, InIf = inIf, OutIf = outIf, Vlan = vlan, Bytes = 1000, Packets = 1, Start = 1, End = 2,
    };

    private sealed record Row(string? Account, string? Vmi, string Direction, string? SrcVn, string? DstVn, string Action, string? Rule,
        string? App, string SrcCountry, string DstCountry, uint SrcAs, uint DstAs);

    private static List<Row> Enrich(Enricher e, SymbolTable s, params FlowRecord[] flows)
    {
        var batch = new FlowBatch();
        foreach (var f in flows) batch.Add(f);
        e.Enrich(batch);
        var rows = new List<Row>();
        for (var i = 0; i < batch.Count; i++)
        {
            var r = batch[i];
            rows.Add(new Row(s.Name(r.Account), s.Name(r.Vmi), VmiDirections.Name(r.VmiDirection), s.Name(r.SrcVn), s.Name(r.DstVn),
                FlowAction.Name(r.Action), s.Name(r.SgRule), s.Name(r.App), CountryCode.Text(r.SrcCountry), CountryCode.Text(r.DstCountry), r.SrcAs, r.DstAs));
        }
        return rows;
    }

    private static (Enricher, SymbolTable) Build(string inventory, GeoDatabase? geo = null)
    {
        var symbols = new SymbolTable();
        var e = new Enricher(symbols, geo);
        e.Use(InventoryFile.Parse(inventory));
        return (e, symbols);
    }

    [Fact]
    public void The_same_addresses_resolve_to_each_tenant_by_vlan_and_every_port_gets_its_own_row()
    {
        var (e, s) = Build(TwoTenants);
        var rows = Enrich(e, s,
            Flow("10.0.0.1", "10.0.0.2", 40000, 80, vlan: 100),
            Flow("10.0.0.1", "10.0.0.2", 40000, 5432, vlan: 200));
        Assert.Equal(4, rows.Count);
        Assert.Equal(new Row("acc-a", "vmi-a1", "egress", "d:a:net", "d:a:net", "pass", "rule-a-out", "web", "", "", 0, 0), rows[0]);
        Assert.Equal(new Row("acc-b", "vmi-b1", "egress", "d:b:net", "d:b:net", "drop", null, "db", "", "", 0, 0), rows[1]);
        // The second port's rows come after the batch's records.
        Assert.Equal(new Row("acc-a", "vmi-a2", "ingress", "d:a:net", "d:a:net", "pass", "rule-a-http", "web", "", "", 0, 0), rows[2]);
        // b2 admits SQL from members of its own group, which b1 is.
        Assert.Equal(new Row("acc-b", "vmi-b2", "ingress", "d:b:net", "d:b:net", "pass", "rule-b-sql", "db", "", "", 0, 0), rows[3]);
    }

    [Fact]
    public void Remote_tags_name_a_port_of_the_same_account_and_never_another_accounts()
    {
        var (e, s) = Build(TwoTenants);
        uint Id(string name) => s.Intern(name);
        var a1 = FlowAddress.Parse("10.0.0.1");
        // 10.0.0.1 is a port in each tenant's network: the network tells them apart.
        Assert.Equal((Id("web"), Id("front"), 0u, 0u), e.RemoteTags(Id("acc-a"), Id("d:a:net"), a1));
        Assert.Equal((Id("db"), 0u, 0u, 0u), e.RemoteTags(Id("acc-b"), Id("d:b:net"), a1));
        // Another account's port is not named, nor an address shared by several ports without a network.
        Assert.Null(e.RemoteTags(Id("acc-a"), Id("d:b:net"), a1));
        Assert.Null(e.RemoteTags(Id("acc-a"), 0, a1));
        Assert.Null(e.RemoteTags(Id("acc-a"), Id("d:a:net"), FlowAddress.Parse("10.0.0.9")));
    }

    [Fact]
    public void Switch_ports_name_the_tenant_by_ifindex_for_sflow_and_by_openflow_port_for_netflow()
    {
        var (e, s) = Build(TwoTenants);
        var rows = Enrich(e, s,
            Flow("10.0.0.2", "10.0.0.1", 80, 40000, inIf: 12, outIf: 11),
            Flow("10.0.0.2", "10.0.0.1", 5432, 40000, inIf: 4, outIf: 3, protocol: FlowProtocol.NetFlow5),
            // IPFIX from Open vSwitch reports the ingress copy without an output port.
            Flow("10.0.0.1", "10.0.0.2", 40000, 5432, inIf: 13, protocol: FlowProtocol.Ipfix));
        Assert.Equal(["vmi-a2", "vmi-b2", "vmi-b1", "vmi-a1", "vmi-b1", "vmi-b2"], rows.Select(r => r.Vmi));
        Assert.Equal(["acc-a", "acc-b", "acc-b", "acc-a", "acc-b", "acc-b"], rows.Select(r => r.Account));
        Assert.Equal(["egress", "egress", "egress", "ingress", "ingress", "ingress"], rows.Select(r => r.Direction));
        Assert.Equal("rule-a-out", rows[0].Rule);
        // Replies are admitted by the rule that admitted the request (security groups are stateful): b2 has
        // no egress rule, but its answer from the SQL port goes back under the ingress rule.
        Assert.Equal(("pass", "rule-b-sql"), (rows[1].Action, rows[1].Rule));
        Assert.Equal(("pass", "rule-a-out"), (rows[3].Action, rows[3].Rule));
    }

    [Fact]
    public void Security_group_rules_attribute_or_drop_and_the_exporters_drop_status_wins()
    {
        var (e, s) = Build(TwoTenants);
        var dropped = Flow("198.51.100.7", "10.0.0.1", 50000, 80, inIf: 99, outIf: 11);
        dropped.ForwardingStatus = 0x80 | 3; // IPFIX forwardingStatus: dropped, reason 3
        var rows = Enrich(e, s,
            Flow("198.51.100.7", "10.0.0.1", 50000, 80, outIf: 11),      // admitted by the HTTP rule
            Flow("198.51.100.7", "10.0.0.1", 50000, 22, outIf: 11),      // no rule admits ssh: dropped by the group
            dropped,                                                     // admitted by the rules, but the switch dropped it
            Flow("10.0.0.1", "10.0.0.2", 40000, 5432, vlan: 200),        // from a member of b-db: remote_group admits it
            Flow("10.0.0.2", "10.0.0.1", 40000, 5432, inIf: 14, outIf: 13));
        Assert.Equal(("pass", "rule-a-http"), (rows[0].Action, rows[0].Rule));
        Assert.Equal(("drop", (string?)null), (rows[1].Action, rows[1].Rule));
        Assert.Equal(("drop", "rule-a-http"), (rows[2].Action, rows[2].Rule));
        // Rows 3 and 4 are the egress rows (b has no egress rule: dropped); 5 and 6 the ingress rows, admitted by membership.
        Assert.Equal(["vmi-b1", "vmi-b2", "vmi-b2", "vmi-b1"], rows.Skip(3).Select(r => r.Vmi));
        Assert.Equal(("pass", "rule-b-sql"), (rows[5].Action, rows[5].Rule));
        Assert.Equal(("pass", "rule-b-sql"), (rows[6].Action, rows[6].Rule));
    }

    [Fact]
    public void Public_addresses_get_country_and_as_and_other_tenants_stay_unnamed()
    {
        var geo = GeoFixture.Load();
        var (e, s) = Build(TwoTenants, geo);
        var rows = Enrich(e, s,
            Flow("10.0.0.1", "8.8.8.8", 40000, 443, vlan: 100),
            Flow("2001:db8::1", "10.0.0.2", 1, 2, vlan: 200));
        Assert.Equal(new Row("acc-a", "vmi-a1", "egress", "d:a:net", "public", "pass", "rule-a-out", "web", "", "US", 0, 15169), rows[0]);
        Assert.Equal(("public", "JP", 2500u), (rows[1].SrcVn, rows[1].SrcCountry, rows[1].SrcAs));
        Assert.Equal(("acc-b", "vmi-b2", "ingress"), (rows[1].Account, rows[1].Vmi, rows[1].Direction));
    }

    [Fact]
    public void A_flow_between_two_tenants_gives_each_a_row_without_the_other_ones_port_or_network()
    {
        const string routed = """
            accounts: [{id: acc-a, name: A}, {id: acc-b, name: B}]
            networks:
              - {name: "d:a:net", account: acc-a, subnets: [10.1.0.0/24]}
              - {name: "d:b:net", account: acc-b, subnets: [10.2.0.0/24]}
            ports:
              - {uuid: vmi-a, account: acc-a, network: "d:a:net", mac: "02:00:00:00:00:0a", ips: [10.1.0.5]}
              - {uuid: vmi-b, account: acc-b, network: "d:b:net", mac: "02:00:00:00:00:0b", ips: [10.2.0.5]}
            """;
        var (e, s) = Build(routed);
        var rows = Enrich(e, s, Flow("10.1.0.5", "10.2.0.5", 1000, 80));
        Assert.Equal(2, rows.Count);
        Assert.Equal(("acc-a", "vmi-a", "d:a:net", (string?)null), (rows[0].Account, rows[0].Vmi, rows[0].SrcVn, rows[0].DstVn));
        Assert.Equal(("acc-b", "vmi-b", (string?)null, "d:b:net"), (rows[1].Account, rows[1].Vmi, rows[1].SrcVn, rows[1].DstVn));
        // Ports in no security group have port security off: everything passes.
        Assert.All(rows, r => Assert.Equal("pass", r.Action));
    }

    [Fact]
    public void Flows_touching_no_known_port_stay_one_row_without_an_account()
    {
        var (e, s) = Build(TwoTenants);
        // 10.0.0.9 lies in both tenants' subnet and nothing says which: neither network is claimed.
        var rows = Enrich(e, s, Flow("10.0.0.9", "192.0.2.55", 1, 2), Flow("192.0.2.55", "10.0.0.9", 1, 2, vlan: 200));
        Assert.Equal(2, rows.Count);
        Assert.Equal(new Row(null, null, "", null, "public", "", null, null, "", "", 0, 0), rows[0]);
        Assert.Equal(new Row(null, null, "", "public", "d:b:net", "", null, null, "", "", 0, 0), rows[1]);
    }

    [Fact]
    public void Vxlan_vni_names_the_network_of_the_inner_flow()
    {
        var (e, s) = Build(TwoTenants);
        var f = Flow("10.0.0.1", "10.0.0.2", 40000, 5432);
        f.Tunnel = TunnelKind.Vxlan;
        f.TunnelId = 5200;
        var rows = Enrich(e, s, f);
        Assert.Equal(["vmi-b1", "vmi-b2"], rows.Select(r => r.Vmi));
    }

    [Fact]
    public void A_new_inventory_replaces_the_old_one_and_ids_stay_stable()
    {
        var symbols = new SymbolTable();
        var e = new Enricher(symbols);
        e.Use(InventoryFile.Parse(TwoTenants));
        var before = symbols.Intern("vmi-a1");
        e.Use(InventoryFile.Parse(TwoTenants.Replace("vmi-a1", "vmi-a1-new", StringComparison.Ordinal)));
        var rows = Enrich(e, symbols, Flow("10.0.0.1", "10.0.0.2", 40000, 80, vlan: 100));
        Assert.Equal("vmi-a1-new", rows[0].Vmi);
        Assert.Equal(before, symbols.Intern("vmi-a1"));
    }
}

/// <summary>A small address database in the layout and format of the @ip-location-db packages.</summary>
internal static class GeoFixture
{
    public static GeoDatabase Load()
    {
        var dir = Directory.CreateTempSubdirectory("flowline-geo-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "geo-whois-asn-country"));
            Directory.CreateDirectory(Path.Combine(dir, "asn"));
            // 8.8.8.0/24 = 134744064..134744319; 1.0.0.0/24 = 16777216..16777471.
            File.WriteAllText(Path.Combine(dir, "geo-whois-asn-country", "geo-whois-asn-country-ipv4-num.csv"),
                "16777216,16777471,AU\n134744064,134744319,US\n");
            File.WriteAllText(Path.Combine(dir, "geo-whois-asn-country", "geo-whois-asn-country-ipv6.csv"),
                "2001:200::,2001:218:2000:51:ffff:ffff:ffff:ffff,JP\n2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,JP\n");
            File.WriteAllText(Path.Combine(dir, "asn", "asn-ipv4-num.csv"), "16777216,16777471,13335,\"Cloudflare, Inc.\"\n134744064,134744319,15169,Google LLC\n");
            File.WriteAllText(Path.Combine(dir, "asn", "asn-ipv6.csv"), "2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,2500,WIDE Project\n");
            return GeoDatabase.Load(dir);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

public sealed class GeoDatabaseTests
{
    /// <summary>Countries of addresses, from a country package holding only <paramref name="ipv4Csv"/>.</summary>
    private static string[] CountriesOf(string ipv4Csv, IEnumerable<FlowAddress> addresses)
    {
        var dir = Directory.CreateTempSubdirectory("flowline-geo-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "x-country"));
            File.WriteAllText(Path.Combine(dir, "x-country", "x-country-ipv4-num.csv"), ipv4Csv);
            var geo = GeoDatabase.Load(dir);
            return addresses.Select(a => CountryCode.Text(geo.Country(a))).ToArray();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Nested_ranges_give_each_address_the_narrowest_ranges_value() =>
        // As in the real package: 37405696-37406207 DE holds 37405967 BE (and the next line repeats DE).
        Assert.Equal(["NL", "DE", "DE", "BE", "DE", "DE", "FR", ""], CountriesOf(
            "37404672,37405695,NL\n37405696,37406207,DE\n37405967,37405967,BE\n37405968,37406207,DE\n37406208,37406719,FR\n",
            new uint[] { 37405695, 37405696, 37405966, 37405967, 37405968, 37406207, 37406208, 37406720 }.Select(FlowAddress.FromV4)));

    [Fact]
    public void Ranges_that_cross_a_slash_16_are_found_from_either_side() =>
        // 1.1.0.0-1.1.0.48 and 1.1.255.250-1.3.0.5 (three /16s) share a /16; 1.4.0.0/16 holds nothing; 4.0.0.0/8 spans 256 of them.
        Assert.Equal(["", "AU", "AU", "", "JP", "JP", "JP", "JP", "", "", "US", "US", "US", "", "ZZ"], CountriesOf(
            "16842752,16842800,AU\n16908282,16973829,JP\n67108864,83886079,US\n4294967295,4294967295,ZZ\n",
            new[] { "0.255.255.255", "1.1.0.0", "1.1.0.48", "1.1.0.49", "1.1.255.250", "1.2.0.0", "1.2.255.255", "1.3.0.5", "1.3.0.6",
                "1.4.0.0", "4.0.0.0", "4.128.3.3", "4.255.255.255", "5.0.0.0", "255.255.255.255" }.Select(a => FlowAddress.Parse(a))));

    [Fact]
    public void Remembered_answers_are_the_databases_answers()
    {
        var geo = GeoDatabase.Load(Path.Combine(RepositoryRoot(), ".deps", "geo", "node_modules", "@ip-location-db"));
        var random = new Random(7);
        var addresses = Enumerable.Range(0, 20_000).Select(k => k % 3 == 0
            ? new FlowAddress(0x2A00_0000_0000_0000UL | (ulong)random.Next(1 << 20) << 32, (ulong)random.Next(50))
            : FlowAddress.FromV4((uint)random.Next(1 << 12) * 1_048_573u)).ToArray(); // few enough to repeat, many enough to collide
        Parallel.For(0, 4, _ =>
        {
            for (var round = 0; round < 3; round++)
            {
                foreach (var a in addresses) Assert.Equal((geo.Country(a), geo.Asn(a)), geo.Lookup(a));
            }
        });
        Assert.Contains(addresses, a => geo.Asn(a) != 0);
    }

    [Fact]
    public void The_installed_packages_load_and_answer_for_well_known_addresses()
    {
        var dir = Path.Combine(RepositoryRoot(), ".deps", "geo", "node_modules", "@ip-location-db");
        var geo = GeoDatabase.Load(dir); // scripts/setup.sh installs them; without them this fails, as it should
        Assert.True(geo.CountryRanges > 100_000 && geo.AsnRanges > 100_000, $"{geo.CountryRanges} / {geo.AsnRanges}");
        Assert.Equal(15169u, geo.Asn(FlowAddress.Parse("8.8.8.8")));
        Assert.Equal("US", CountryCode.Text(geo.Country(FlowAddress.Parse("8.8.8.8"))));
        Assert.Equal(13335u, geo.Asn(FlowAddress.Parse("1.1.1.1")));
        Assert.Equal(0, geo.Country(FlowAddress.Parse("10.1.2.3")));
    }

    private static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Flowline.slnx"))) return d.FullName;
        }
        throw new DirectoryNotFoundException("Flowline.slnx");
    }
}

public sealed class GlobalAddressTests
{
    [Theory]
    [InlineData("8.8.8.8", true)]
    [InlineData("100.63.255.255", true)]
    [InlineData("100.64.0.1", false)]
    [InlineData("172.15.255.255", true)]
    [InlineData("172.16.0.10", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("172.32.0.0", true)]
    [InlineData("192.168.1.1", false)]
    [InlineData("169.254.1.1", false)]
    [InlineData("10.1.1.1", false)]
    [InlineData("127.0.0.1", false)]
    [InlineData("224.0.0.5", false)]
    [InlineData("2001:4860:4860::8888", true)]
    [InlineData("fd00::1", false)]
    [InlineData("fe80::1", false)]
    [InlineData("ff02::1", false)]
    [InlineData("::1", false)]
    public void Only_internet_routed_addresses_are_looked_up(string address, bool global) =>
        Assert.Equal(global, Enricher.IsGlobal(FlowAddress.Parse(address)));

    [Fact]
    public void The_generators_public_servers_are_internet_addresses_and_distinct()
    {
        var seen = new HashSet<FlowAddress>();
        for (var rank = 0; rank < 100_000; rank++)
        {
            foreach (var v6 in new[] { false, true })
            {
                var a = Flowline.Wire.Generation.TrafficGenerator.PublicServer(rank, v6);
                Assert.True(Enricher.IsGlobal(a), $"rank {rank}: {a} is not an internet address");
                Assert.Equal(!v6, a.IsV4);
                seen.Add(a);
            }
        }
        Assert.True(seen.Count > 199_000, $"only {seen.Count} distinct addresses");
    }
}

public sealed class AddressTableTests
{
    [Theory]
    [InlineData(1, 0)]          // sequential, as address management hands them out
    [InlineData(1 << 14, 1)]    // strided by a table size: must spread, not pile up
    [InlineData(257, 2)]
    public void Finds_every_address_it_holds_and_no_other(int stride, int seed)
    {
        var random = new Random(seed);
        var entries = new Dictionary<FlowAddress, int>();
        for (var k = 0; k < 20_000; k++)
        {
            entries[FlowAddress.FromV4(0x0A00_0000u + (uint)(k * stride))] = k;
            if (k % 4 == 0) entries[new FlowAddress(0xFD00_0000_0000_0000UL, (ulong)random.NextInt64())] = ~k;
        }
        entries[FlowAddress.FromV4(0)] = 7;
        var table = AddressTable.Build(entries);
        foreach (var (a, v) in entries) Assert.Equal(v, table.Find(a));
        for (var k = 0; k < 20_000; k++)
        {
            var absent = FlowAddress.FromV4(0xC000_0000u + (uint)random.Next(1 << 29)); // above every address held
            Assert.Equal(AddressTable.Missing, table.Find(absent));
            Assert.Equal(AddressTable.Missing, table.Find(new FlowAddress(0xFD01_0000_0000_0000UL, (ulong)k)));
        }
        Assert.Equal(AddressTable.Missing, table.Find(FlowAddress.FromV4(uint.MaxValue)));
    }
}

public sealed class AddressTableProbeTests
{
    [Fact]
    public void An_absent_address_next_to_a_run_of_present_ones_is_found_absent_at_once()
    {
        var entries = Enumerable.Range(0, 10_000).ToDictionary(k => FlowAddress.FromV4(0x0A00_0001u + (uint)k), k => k);
        var table = AddressTable.Build(entries);
        for (var k = 0; k < 10_000; k++)
        {
            Assert.Equal(k, table.Find(FlowAddress.FromV4(0x0A00_0001u + (uint)k)));
            Assert.True(table.Probes(FlowAddress.FromV4(0xAC10_0000u + (uint)k * 7919)) <= 3, "a miss walked a run");
        }
    }
}
