using Flowline.Query;
using Flowline.Storage.Embedded;
using Flowline.Records;

namespace Flowline.Enrichment.Tests;

/// <summary>
/// Random inventories (tenants reusing the same subnets, told apart by VLAN) and random flows, enriched,
/// stored and queried back: a query scoped to one account returns only that account's rows, and none of
/// them names another account's port, tags or networks.
/// </summary>
public sealed class IsolationPropertyTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-isolation-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void A_query_scoped_to_one_account_never_returns_another_accounts_rows_or_identities(int seed)
    {
        var random = new Random(seed);
        var yaml = new System.Text.StringBuilder();
        var accounts = random.Next(2, 6);
        var ownerOfVmi = new Dictionary<string, string>();
        var ownerOfName = new Dictionary<string, string>();
        yaml.AppendLine("accounts:");
        for (var a = 0; a < accounts; a++) yaml.AppendLine($"  - {{id: acc-{a}, name: T{a}}}");
        yaml.AppendLine("networks:\n  - {name: public, public: true}");
        var networks = new List<(string Name, string Account, ushort Vlan, int Subnet)>();
        for (var a = 0; a < accounts; a++)
        {
            for (var n = 0; n < random.Next(1, 3); n++)
            {
                // Few distinct subnets for many networks: tenants overlap.
                var net = (Name: $"d:acc{a}:net{n}", Account: $"acc-{a}", Vlan: (ushort)(100 + networks.Count), Subnet: random.Next(0, 2));
                networks.Add(net);
                ownerOfName[net.Name] = net.Account;
                yaml.AppendLine($"  - {{name: \"{net.Name}\", account: {net.Account}, subnets: [10.{net.Subnet}.0.0/24], vlan: {net.Vlan}}}");
            }
        }
        yaml.AppendLine("security_groups:");
        for (var a = 0; a < accounts; a++)
        {
            yaml.AppendLine($"  - {{uuid: sg-{a}, name: sg{a}, account: acc-{a}, rules: [{{uuid: r-{a}-in, direction: ingress, protocol: tcp, ports: 1-1024}}, {{uuid: r-{a}-peer, direction: ingress, remote_group: sg{a}}}]}}");
        }
        yaml.AppendLine("ports:");
        var portCount = 0;
        var hostsIn = new Dictionary<string, List<int>>();
        foreach (var net in networks)
        {
            var hosts = Enumerable.Range(1, 20).OrderBy(_ => random.Next()).Take(random.Next(2, 6)).ToList();
            hostsIn[net.Name] = hosts;
            foreach (var h in hosts)
            {
                var uuid = $"vmi-{portCount}";
                ownerOfVmi[uuid] = net.Account;
                var app = $"app{random.Next(3)}-{net.Account}";
                ownerOfName[app] = net.Account;
                yaml.AppendLine($"  - {{uuid: {uuid}, account: {net.Account}, network: \"{net.Name}\", mac: \"02:00:00:00:{portCount / 256:x2}:{portCount % 256:x2}\", ips: [10.{net.Subnet}.0.{h}], tags: {{app: {app}}}, security_groups: [sg{net.Account[4..]}]}}");
                portCount++;
            }
        }
        var inventory = InventoryFile.Parse(yaml.ToString());

        var data = Path.Combine(_dir.FullName, $"data{seed}");
        using (var store = new EmbeddedStore(data))
        {
            var enricher = new Enricher(store.Symbols);
            enricher.Use(inventory);
            var batch = new FlowBatch();
            for (var i = 0; i < 3000; i++)
            {
                var net = networks[random.Next(networks.Count)];
                var hosts = hostsIn[net.Name];
                string Address() => random.Next(5) switch
                {
                    0 => $"203.0.113.{random.Next(1, 255)}",                   // public
                    1 => $"10.{random.Next(0, 2)}.0.{random.Next(1, 30)}",    // anyone's, maybe nobody's
                    _ => $"10.{net.Subnet}.0.{hosts[random.Next(hosts.Count)]}",
                };
                batch.Add(new FlowRecord
                {
                    Protocol = FlowProtocol.SFlow5, Exporter = FlowAddress.Parse("192.0.2.1"), Start = 1_700_000_000_000_000 + i, End = 1_700_000_000_000_000 + i,
                    SrcAddr = FlowAddress.Parse(Address()), DstAddr = FlowAddress.Parse(Address()), IpVersion = 4, IpProto = 6,
                    SrcPort = (ushort)random.Next(1, 65535), DstPort = (ushort)random.Next(1, 2000), Bytes = 100, Packets = 1,
                    Vlan = random.Next(4) == 0 ? (ushort)0 : net.Vlan,
                });
            }
            enricher.Enrich(batch);
            store.Append(batch);
            store.Flush();
        }

        using var reader = new EmbeddedStore(data, new EmbeddedStoreOptions { ReadOnly = true });
        var symbols = reader.Symbols;
        var seen = 0;
        for (var a = 0; a < accounts; a++)
        {
            var account = $"acc-{a}";
            var filter = FilterParser.Parse($"account {account}", name => symbols.TryFind(name, out var id) ? id : null);
            foreach (var r in reader.Rows(long.MinValue, long.MaxValue, filter))
            {
                seen++;
                Assert.Equal(account, symbols.Name(r.Account));
                Assert.Equal(account, ownerOfVmi[symbols.Name(r.Vmi)!]);
                foreach (var id in new[] { r.SrcVn, r.DstVn, r.App })
                {
                    if (id == 0) continue;
                    var name = symbols.Name(id)!;
                    Assert.True(name == "public" || ownerOfName[name] == account, $"{account}'s row names {name}");
                }
            }
        }
        Assert.True(seen > 1000, $"only {seen} rows belong to an account");
    }
}
