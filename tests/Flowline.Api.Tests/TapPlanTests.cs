using System.Text.Json.Nodes;
using Flowline.Taas;

namespace Flowline.Api.Tests;

/// <summary>What the driver asks of the switch for a set of taps: shared mirrors, VLAN filters, tunnels, and the taps it cannot carry.</summary>
public sealed class TapPlanTests
{
    private static TapResource Resource(TapKind kind, string id, params (string Name, JsonNode? Value)[] attributes) =>
        new(kind, id, "acc-a", attributes.ToDictionary(a => a.Name, a => a.Value), TapState.PendingCreate);

    private static readonly Dictionary<string, TapPort> Ports = new()
    {
        ["p-mon"] = new("p-mon", "acc-a", "mon", false),
        ["p-1"] = new("p-1", "acc-a", "vm1", true),
        ["p-2"] = new("p-2", "acc-a", "vm2", true),
        ["p-3"] = new("p-3", "acc-a", "vm3", true),
        ["p-none"] = new("p-none", "acc-a", null, true),
    };

    [Fact]
    public void Flows_of_a_service_share_its_mirror_per_vlan_filter_and_tap_mirrors_get_a_tunnel_per_direction()
    {
        var plan = TapPlan.Make(
        [
            Resource(TapKind.Service, "s", ("port_id", "p-mon")),
            Resource(TapKind.Flow, "f1", ("tap_service_id", "s"), ("source_port", "p-1"), ("direction", "OUT")),
            Resource(TapKind.Flow, "f2", ("tap_service_id", "s"), ("source_port", "p-2"), ("direction", "IN")),
            Resource(TapKind.Flow, "f3", ("tap_service_id", "s"), ("source_port", "p-3"), ("direction", "BOTH"), ("vlan_filter", "10-12,20")),
            Resource(TapKind.Flow, "f4", ("tap_service_id", "s"), ("source_port", "p-none"), ("direction", "BOTH")),
            Resource(TapKind.Mirror, "m", ("port_id", "p-1"), ("mirror_type", "erspanv1"), ("remote_ip", "192.0.2.9"), ("directions", new JsonObject { ["IN"] = 5, ["OUT"] = 6 })),
        ], id => Ports.GetValueOrDefault(id));

        var shared = Assert.Single(plan.Mirrors, m => m.Key == "ts-s");
        Assert.Equal(["vm1"], shared.FromPorts);
        Assert.Equal(["vm2"], shared.ToPorts);
        Assert.Empty(shared.Vlans);
        Assert.Equal("mon", shared.Output);
        Assert.Equal(["s", "f1", "f2"], shared.Owners);
        var filtered = Assert.Single(plan.Mirrors, m => m.Key.StartsWith("ts-s-", StringComparison.Ordinal));
        Assert.Equal([10, 11, 12, 20], filtered.Vlans);
        Assert.Equal(["vm3"], filtered.FromPorts);
        Assert.Equal(["vm3"], filtered.ToPorts);
        var tunnels = plan.Mirrors.Where(m => m.Tunnel is not null).OrderBy(m => m.Key, StringComparer.Ordinal).ToList();
        Assert.Equal(["tm-m-in", "tm-m-out"], tunnels.Select(t => t.Key));
        Assert.Equal(["vm1"], tunnels[0].ToPorts);
        Assert.Empty(tunnels[0].FromPorts);
        Assert.Equal((5L, "erspan"), (tunnels[0].Tunnel!.Key, tunnels[0].Tunnel!.Type));
        Assert.Equal(["vm1"], tunnels[1].FromPorts);
        Assert.Equal(6L, tunnels[1].Tunnel!.Key);
        Assert.Equal("1", tunnels[0].Tunnel!.Options(1)["erspan_ver"]);
        Assert.NotEqual(tunnels[0].TunnelPort, tunnels[1].TunnelPort);
        Assert.True(tunnels[0].TunnelPort.Length <= 15);
        // A port without a switch interface cannot be carried, and says so.
        Assert.Contains("no switch interface", plan.Errors["f4"], StringComparison.Ordinal);
        Assert.DoesNotContain("f4", plan.Mirrors.SelectMany(m => m.Owners));
    }

    [Fact]
    public void A_state_file_carries_the_taps_over_a_restart_and_a_service_takes_its_flows_with_it()
    {
        var dir = Directory.CreateTempSubdirectory("flowline-taps-");
        try
        {
            var path = Path.Combine(dir.FullName, "taas.json");
            var state = new TapState(path);
            var s = state.Create(TapKind.Service, "acc-a", new() { ["port_id"] = "p-mon", ["name"] = "mon" });
            var f = state.Create(TapKind.Flow, "acc-a", new() { ["tap_service_id"] = s.Id, ["source_port"] = "p-1", ["direction"] = "IN" });
            state.SetStatus(f.Id, TapState.Error, "why");
            var again = new TapState(path);
            Assert.Equal("mon", again.Get(TapKind.Service, s.Id)!.Text("name"));
            Assert.Equal(("ERROR", "why"), (again.Get(TapKind.Flow, f.Id)!.Status, again.Get(TapKind.Flow, f.Id)!.StatusReason));
            Assert.Equal([s.Id, f.Id], again.Delete(TapKind.Service, s.Id));
            Assert.Empty(new TapState(path).List(TapKind.Flow));
            File.WriteAllText(path, "{\"resources\": [{\"kind\": \"bogus\"}]}");
            Assert.Throws<InvalidDataException>(() => new TapState(path));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
