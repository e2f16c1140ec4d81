using System.Text.Json.Nodes;
using Flowline.Wire.Ovsdb;
using static Flowline.Wire.Ovsdb.OvsdbValue;

namespace Flowline.Taas;

/// <summary>What the driver reads of a switch's database: bridges, ports, interfaces and mirrors, and which of them Flowline made.</summary>
internal sealed class Switch
{
    public sealed record Bridge(string Uuid, string Name, HashSet<string> Ports, HashSet<string> Mirrors);
    /// <summary>A port; <see cref="Key"/>: the mirror key of a tunnel port Flowline made, else null.</summary>
    public sealed record Port(string Uuid, string Name, List<string> Interfaces, string? Key);
    public sealed record Interface(string Uuid, string Name, string Type, Dictionary<string, string> Options, long OfPort);
    public sealed record Mirror(string Uuid, string Name, HashSet<string> From, HashSet<string> To, SortedSet<int> Vlans, string? Output, string? Key);

    public Dictionary<string, Bridge> Bridges { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, Port> Ports { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, Interface> Interfaces { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, Mirror> Mirrors { get; } = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _portByName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Bridge> _bridgeOfPort = new(StringComparer.Ordinal);

    public static async Task<Switch> Read(OvsdbClient client, CancellationToken cancel)
    {
        var result = await client.TransactAsync(
        [
            Select("Bridge", ["_uuid", "name", "ports", "mirrors"]),
            Select("Port", ["_uuid", "name", "interfaces", "external_ids"]),
            Select("Interface", ["_uuid", "name", "type", "options", "ofport"]),
            Select("Mirror", ["_uuid", "name", "select_src_port", "select_dst_port", "select_vlan", "output_port", "external_ids"]),
        ], cancel);
        var s = new Switch();
        static IEnumerable<JsonObject> Rows(JsonNode? r) => (r?["rows"] as JsonArray ?? []).OfType<JsonObject>();
        static string Id(JsonObject row) => Uuids(row["_uuid"]).First();
        foreach (var row in Rows(result[0]))
        {
            var b = new Bridge(Id(row), row["name"]!.ToString(), [.. Uuids(row["ports"])], [.. Uuids(row["mirrors"])]);
            s.Bridges[b.Uuid] = b;
        }
        foreach (var row in Rows(result[1]))
        {
            var p = new Port(Id(row), row["name"]!.ToString(), [.. Uuids(row["interfaces"])], Pairs(row["external_ids"]).GetValueOrDefault(TapDriver.Tag));
            s.Ports[p.Uuid] = p;
            s._portByName[p.Name] = p.Uuid;
        }
        foreach (var row in Rows(result[2]))
        {
            var ofport = Integers(row["ofport"]).DefaultIfEmpty(0).First();
            var i = new Interface(Id(row), row["name"]!.ToString(), row["type"]?.ToString() ?? "", Pairs(row["options"]), ofport);
            s.Interfaces[i.Uuid] = i;
        }
        foreach (var row in Rows(result[3]))
        {
            var m = new Mirror(Id(row), row["name"]?.ToString() ?? "", [.. Uuids(row["select_src_port"])], [.. Uuids(row["select_dst_port"])],
                [.. Integers(row["select_vlan"]).Select(v => (int)v)], Uuids(row["output_port"]).FirstOrDefault(), Pairs(row["external_ids"]).GetValueOrDefault(TapDriver.Tag));
            s.Mirrors[m.Uuid] = m;
        }
        foreach (var b in s.Bridges.Values)
        {
            foreach (var p in b.Ports) s._bridgeOfPort[p] = b;
        }
        return s;
    }

    /// <summary>The uuid of the port named <paramref name="name"/> (a port and its interface share the name), when a bridge holds it.</summary>
    public string? PortUuid(string name) => _portByName.TryGetValue(name, out var uuid) && _bridgeOfPort.ContainsKey(uuid) ? uuid : null;

    /// <summary>The OpenFlow port number of the interface named <paramref name="name"/> (0 when unknown).</summary>
    public long OfPort(string name) => Interfaces.Values.FirstOrDefault(i => i.Name == name)?.OfPort ?? 0;

    /// <summary>The bridge a mirror goes on: the one holding every port it reads (and its output port); or why there is none.</summary>
    public (Bridge? Bridge, string? Reason) BridgeFor(DesiredMirror m)
    {
        Bridge? bridge = null;
        foreach (var name in m.FromPorts.Concat(m.ToPorts))
        {
            if (PortUuid(name) is not { } uuid) return (null, $"the interface {name} is on no bridge of the switch");
            var b = _bridgeOfPort[uuid];
            if (bridge is not null && b != bridge) return (null, $"the mirrored ports are on different bridges ({bridge.Name}, {b.Name})");
            bridge = b;
        }
        if (bridge is null) return (null, "nothing to mirror");
        if (m.Output is { } output)
        {
            if (PortUuid(output) is not { } o) return (null, $"the tap service port's interface {output} is on no bridge of the switch");
            if (_bridgeOfPort[o] != bridge)
            {
                return (null, $"the tap service port ({output}) is on bridge {_bridgeOfPort[o].Name} and the source on {bridge.Name}: a tap service must be on the source's bridge (use a tap mirror to reach another bridge or node)");
            }
        }
        return (bridge, null);
    }

    /// <summary>Whether a mirror in the switch is the planned one: the same ports, VLANs and output (its tunnel port as planned).</summary>
    public bool Carries(Mirror have, DesiredMirror want)
    {
        if (have.Name != want.Name || !have.Vlans.SetEquals(want.Vlans)) return false;
        if (!have.From.SetEquals(want.FromPorts.Select(p => PortUuid(p) ?? "")) || !have.To.SetEquals(want.ToPorts.Select(p => PortUuid(p) ?? ""))) return false;
        if (have.Output is null || !Ports.TryGetValue(have.Output, out var output)) return false;
        return want.Tunnel is not null ? IsTunnelFor(output, want) : output.Name == want.Output;
    }

    /// <summary>Whether a port is the tunnel port a mirror needs: Flowline's, named for it, of the planned type and options.</summary>
    public bool IsTunnelFor(Port port, DesiredMirror want)
    {
        if (want.Tunnel is not { } tunnel || port.Key != want.Key || port.Name != want.TunnelPort || port.Interfaces.Count != 1
            || !Interfaces.TryGetValue(port.Interfaces[0], out var i)) return false;
        var options = tunnel.Options(TunnelIndex(want));
        return i.Type == tunnel.Type && options.Count == i.Options.Count && options.All(o => i.Options.GetValueOrDefault(o.Key) == o.Value);
    }

    /// <summary>The ERSPAN index of a mirror's copies: the OpenFlow port of the port mirrored (1 when unknown).</summary>
    public long TunnelIndex(DesiredMirror want) => want.FromPorts.Concat(want.ToPorts).Select(OfPort).FirstOrDefault(o => o > 0, 1);
}
