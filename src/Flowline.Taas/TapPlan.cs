namespace Flowline.Taas;

/// <summary>A port as the driver needs it from the inventory: its owner, its switch interface, and whether port security is on.</summary>
public sealed record TapPort(string Id, string Account, string? Interface, bool PortSecurityEnabled);

/// <summary>The tunnel a mirror's copies leave by: GRE with a key, or ERSPAN type II (version 1) with a session id.</summary>
public sealed record TapTunnel(string Type, string RemoteIp, long Key)
{
    /// <summary>The tunnel port's <c>type</c> and <c>options</c> in the Interface table.</summary>
    public SortedDictionary<string, string> Options(long index) => Type == "erspan"
        ? new(StringComparer.Ordinal) { ["remote_ip"] = RemoteIp, ["key"] = Key.ToString(System.Globalization.CultureInfo.InvariantCulture), ["erspan_ver"] = "1", ["erspan_idx"] = index.ToString(System.Globalization.CultureInfo.InvariantCulture) }
        : new(StringComparer.Ordinal) { ["remote_ip"] = RemoteIp, ["key"] = Key.ToString(System.Globalization.CultureInfo.InvariantCulture) };
}

/// <summary>
/// One Open vSwitch mirror the taps need: <see cref="Key"/> names it (and is written in its
/// <c>external_ids:flowline-tap</c>); the interfaces whose received packets (<see cref="FromPorts"/>, the
/// VM sends them: OUT) and sent packets (<see cref="ToPorts"/>, delivered to the VM: IN) it copies, the
/// VLANs it keeps (none: all), and where the copies go: a local port (<see cref="Output"/>) or a tunnel.
/// <see cref="Owners"/>: the resources whose status is this mirror's.
/// </summary>
public sealed record DesiredMirror(string Key, IReadOnlyList<string> Owners, SortedSet<string> FromPorts, SortedSet<string> ToPorts, SortedSet<int> Vlans,
    string? Output, TapTunnel? Tunnel)
{
    /// <summary>The mirror's name in the switch (and, with a tunnel, its port's): Flowline's own, so that it finds exactly what it made.</summary>
    public string Name => "flowline-" + Key;

    /// <summary>The tunnel port's name: short (an interface name), from the mirror's key.</summary>
    public string TunnelPort => "flt" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Key)))[..10];
}

/// <summary>What the taps ask of the switch, and the resources that cannot be carried (with the reason).</summary>
public sealed record TapPlan(IReadOnlyList<DesiredMirror> Mirrors, IReadOnlyDictionary<string, string> Errors, IReadOnlyDictionary<string, IReadOnlyList<string>> Needs)
{
    /// <summary>
    /// Plans the mirrors: a tap service's flows share its mirror (one per distinct VLAN filter), output to the
    /// service's port; each direction of a tap mirror is a mirror of its own, output to a GRE or ERSPAN
    /// tunnel port. <see cref="Needs"/>: the interfaces each resource needs on the switch.
    /// </summary>
    public static TapPlan Make(IEnumerable<TapResource> resources, Func<string, TapPort?> ports)
    {
        var all = resources.ToList();
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        var needs = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var mirrors = new List<DesiredMirror>();
        string? Interface(TapResource owner, string? portId, string role)
        {
            if (portId is null || ports(portId) is not { } p)
            {
                errors[owner.Id] = $"the {role} port {portId} is not in the inventory";
                return null;
            }
            if (p.Interface is not { Length: > 0 } name)
            {
                errors[owner.Id] = $"the {role} port {portId} has no switch interface in the inventory (ports[].interface)";
                return null;
            }
            return name;
        }
        foreach (var service in all.Where(r => r.Kind == TapKind.Service))
        {
            var output = Interface(service, service.Text("port_id"), "tap service");
            if (output is null) continue;
            needs[service.Id] = [output];
            var flows = all.Where(f => f.Kind == TapKind.Flow && f.Text("tap_service_id") == service.Id).ToList();
            foreach (var group in flows.GroupBy(f => f.Text("vlan_filter") is { } v ? string.Join(',', VlanFilter.Parse(v)!) : ""))
            {
                var from = new SortedSet<string>(StringComparer.Ordinal);
                var to = new SortedSet<string>(StringComparer.Ordinal);
                var owners = new List<string> { service.Id };
                foreach (var flow in group)
                {
                    var source = Interface(flow, flow.Text("source_port"), "source");
                    if (source is null) continue;
                    if (source == output)
                    {
                        errors[flow.Id] = "the source port is the tap service's own port";
                        continue;
                    }
                    needs[flow.Id] = [source, output];
                    owners.Add(flow.Id);
                    var direction = flow.Text("direction");
                    if (direction is "OUT" or "BOTH") from.Add(source);
                    if (direction is "IN" or "BOTH") to.Add(source);
                }
                if (owners.Count == 1) continue;
                var vlans = group.Key.Length == 0 ? new SortedSet<int>() : new SortedSet<int>(group.Key.Split(',').Select(int.Parse));
                var key = "ts-" + service.Id + (group.Key.Length == 0 ? "" : "-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(group.Key)))[..8]);
                mirrors.Add(new DesiredMirror(key, owners, from, to, vlans, output, null));
            }
        }
        foreach (var mirror in all.Where(r => r.Kind == TapKind.Mirror))
        {
            var source = Interface(mirror, mirror.Text("port_id"), "mirrored");
            if (source is null) continue;
            needs[mirror.Id] = [source];
            var type = mirror.Text("mirror_type") == "erspanv1" ? "erspan" : "gre";
            var remote = mirror.Text("remote_ip")!;
            if (mirror.Attributes.GetValueOrDefault("directions") is not System.Text.Json.Nodes.JsonObject directions) continue;
            foreach (var (direction, id) in directions)
            {
                // Whatever number type the node holds (parsed, or made in memory).
                if (id is not System.Text.Json.Nodes.JsonValue v || !long.TryParse(v.ToJsonString(), out var key)) continue;
                var set = new SortedSet<string>(StringComparer.Ordinal) { source };
                mirrors.Add(new DesiredMirror($"tm-{mirror.Id}-{direction.ToLowerInvariant()}", [mirror.Id],
                    direction == "OUT" ? set : new SortedSet<string>(StringComparer.Ordinal), direction == "IN" ? set : new SortedSet<string>(StringComparer.Ordinal),
                    new SortedSet<int>(), null, new TapTunnel(type, remote, key)));
            }
        }
        return new TapPlan(mirrors, errors, needs);
    }
}
