using Flowline.Records;

namespace Flowline.Enrichment.Tests;

public sealed class InventoryFileTests
{
    private static string Example => Path.Combine(AppContext.BaseDirectory, "inventory.example.yaml");

    [Fact]
    public void The_documented_example_loads_with_every_field()
    {
        var inventory = InventoryFile.Load(Example);
        Assert.Equal(["acc-0001", "acc-0002"], inventory.Accounts.Select(a => a.Id));
        Assert.Equal(3, inventory.Networks.Count);
        Assert.Single(inventory.Networks, n => n.IsPublic);
        var globex = inventory.Networks.Single(n => n.Name == "default-domain:globex:app");
        Assert.Equal((ushort)200, globex.Vlan);
        Assert.Equal(5002u, globex.Vni);
        var web = inventory.Ports.Single(p => p.Vm == "acme-web-1");
        Assert.Equal("acc-0001", web.Account);
        Assert.Equal(0x0200_0000_0101UL, web.Mac);
        Assert.Equal([FlowAddress.Parse("10.0.0.5"), FlowAddress.Parse("fd00:1::5")], web.Addresses);
        Assert.Equal(FlowAddress.Parse("192.0.2.10"), web.Exporter);
        Assert.Equal((3u, 17u), (web.OfPort!.Value, web.IfIndex!.Value));
        Assert.Equal(("web", "frontend", "blr", "prod"), (web.Tags.App, web.Tags.Tier, web.Tags.Site, web.Tags.Deployment));
        Assert.Equal(["pci"], web.Tags.Labels);
        Assert.Equal(["6f1c2f9e-0000-4000-8000-000000000001"], web.SecurityGroups);
        Assert.Equal(["acme-web-1"], inventory.Ports.Where(p => p.OfInterest).Select(p => p.Vm));
        // Overlapping tenants: the same address in two networks is allowed.
        Assert.Equal(2, inventory.Ports.Count(p => p.Addresses.Contains(FlowAddress.Parse("10.0.0.5"))));
        var rule = inventory.SecurityGroups[0].Rules[0];
        Assert.Equal((RuleDirection.Ingress, (byte)4, (byte?)6, (ushort)80, (ushort)443), (rule.Direction, rule.IpVersion, rule.Protocol, rule.PortLow, rule.PortHigh));
        Assert.Equal("globex-app", inventory.SecurityGroups[1].Rules[0].RemoteGroup);
    }

    [Fact]
    public void Json_with_the_same_keys_is_read_too()
    {
        var inventory = InventoryFile.Parse("""
            {"accounts": [{"id": "acc-1", "name": "One"}],
             "networks": [{"name": "d:p:n", "account": "acc-1", "subnets": ["192.168.0.0/16"]}],
             "ports": [{"uuid": "p1", "account": "acc-1", "network": "d:p:n", "ips": ["192.168.1.1"], "mac": "02:00:00:00:00:01"}]}
            """);
        Assert.Equal("p1", inventory.Ports.Single().Uuid);
    }

    /// <summary>Each broken inventory, with the line and field its error must name.</summary>
    public static TheoryData<string, int, string, string> Broken() => new()
    {
        { "accounts:\n  - id: acc-1\n    nmae: One\n", 3, "accounts[0].nmae", "unknown key" },
        { "accounts:\n  - id: 1234\n", 2, "accounts[0].id", "acc-" },
        { "accounts:\n  - id: acc-1\n  - id: acc-1\n", 3, "accounts[1].id", "twice" },
        { "networks:\n  - name: n\n    account: acc-9\n    subnets: [10.0.0.0/24]\n", 3, "networks[0].account", "no account 'acc-9'" },
        { "accounts: [{id: acc-1}]\nnetworks:\n  - name: n\n    account: acc-1\n    subnets: [10.0.0.1/24]\n", 5, "networks[0].subnets", "host bits" },
        { "accounts: [{id: acc-1}]\nnetworks:\n  - name: n\n    account: acc-1\n    subnets: [10.0.0.0/33]\n", 5, "networks[0].subnets", "prefix length" },
        { "accounts: [{id: acc-1}]\nnetworks:\n  - {name: a, account: acc-1, vlan: 5}\n  - {name: b, account: acc-1, vlan: 5}\n", 4, "networks[1].vlan", "already network 'a'" },
        { "accounts: [{id: acc-1}]\nnetworks: [{name: n, account: acc-1, subnets: [10.0.0.0/24]}]\nports:\n  - uuid: p\n    account: acc-1\n    network: n\n    ips: [10.1.0.5]\n", 7, "ports[0].ips", "not in a subnet" },
        { "accounts: [{id: acc-1}]\nnetworks: [{name: n, account: acc-1, subnets: [10.0.0.0/24]}]\nports:\n  - uuid: p\n    account: acc-1\n    network: n\n    mac: 02:00:00:00:01\n", 7, "ports[0].mac", "not a MAC" },
        { "accounts: [{id: acc-1}, {id: acc-2}]\nnetworks: [{name: n, account: acc-1, subnets: [10.0.0.0/24]}]\nports:\n  - uuid: p\n    account: acc-2\n    network: n\n", 6, "ports[0].network", "belongs to acc-1" },
        { "accounts: [{id: acc-1}]\nnetworks: [{name: n, account: acc-1, subnets: [10.0.0.0/24]}]\nports:\n  - {uuid: p, account: acc-1, network: n, ips: [10.0.0.5]}\n  - {uuid: q, account: acc-1, network: n, ips: [10.0.0.5]}\n", 5, "ports[1].ips", "already port p" },
        { "accounts: [{id: acc-1}]\nsecurity_groups:\n  - uuid: g\n    account: acc-1\n    rules:\n      - uuid: r\n        direction: inbound\n", 7, "security_groups[0].rules[0].direction", "ingress or egress" },
        { "accounts: [{id: acc-1}]\nsecurity_groups:\n  - uuid: g\n    account: acc-1\n    rules:\n      - {uuid: r, direction: ingress, ports: 90-80}\n", 6, "security_groups[0].rules[0].ports", "range" },
        { "accounts: [{id: acc-1}]\nsecurity_groups:\n  - uuid: g\n    account: acc-1\n    rules:\n      - {uuid: r, direction: ingress, remote_group: nope}\n", 6, "security_groups[0].rules[0].remote_group", "no security group 'nope'" },
        { "accounts: [{id: acc-1}]\nsecurity_groups:\n  - uuid: g\n    account: acc-1\n    rules:\n      - {uuid: r, direction: ingress, ethertype: IPv6, remote: 10.0.0.0/8}\n", 6, "security_groups[0].rules[0].remote", "IPv6" },
        { "accounts: [{id: acc-1}]\nnetworks: [{name: n, account: acc-1, subnets: [10.0.0.0/24]}]\nports:\n  - uuid: p\n    account: acc-1\n    network: n\n    of_interest: yes please\n", 7, "ports[0].of_interest", "true or false" },
        { "accounts:\n  - id: acc-1\n   name: bad indent\n", 3, "syntax", "" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void A_broken_inventory_is_refused_naming_the_line_and_field(string yaml, int line, string field, string says)
    {
        var e = Assert.Throws<InventoryException>(() => InventoryFile.Parse(yaml, "inv.yaml"));
        Assert.Contains(e.Errors, x => x.Line == line && x.Field == field && x.Message.Contains(says, StringComparison.Ordinal));
        Assert.StartsWith("inv.yaml: line ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var e = Assert.Throws<InventoryException>(() => InventoryFile.Parse("accounts:\n  - id: x\n  - id: acc-1\n    colour: blue\nports: 5\n"));
        Assert.Equal([2, 4, 5], e.Errors.Select(x => x.Line).Order());
    }

    [Fact]
    public void Errors_that_aliases_repeat_stop_at_the_limit()
    {
        // 100 bad subnets, repeated by 900 aliases: 90,000 errors to list without a limit.
        var yaml = new System.Text.StringBuilder("accounts: [{id: acc-1}]\nbad: &b [" + string.Join(", ", Enumerable.Repeat("nonsense", 100)) + "]\nnetworks:\n");
        for (var i = 0; i < 900; i++) yaml.Append($"  - {{name: n{i}, account: acc-1, subnets: *b}}\n");
        var text = yaml.ToString().Replace("bad: &b", "x-bad: &b", StringComparison.Ordinal);
        var e = Assert.Throws<InventoryException>(() => InventoryFile.Parse(text));
        Assert.Equal(InventoryFile.MaxErrors + 1, e.Errors.Count);
        Assert.Equal("more than 1000 errors: the rest were not looked for", e.Errors[^1].Message);
    }

    [Fact]
    public void A_missing_file_is_an_inventory_error_not_a_crash()
    {
        var e = Assert.Throws<InventoryException>(() => InventoryFile.Load("/nonexistent/inventory.yaml"));
        Assert.Equal("file", e.Errors.Single().Field);
    }
}
