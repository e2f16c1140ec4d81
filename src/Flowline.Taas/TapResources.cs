using System.Net;
using System.Text.Json.Nodes;

namespace Flowline.Taas;

/// <summary>The three TaaS resources (seed 004 and the current TaaS API reference).</summary>
public enum TapKind { Service, Flow, Mirror }

/// <summary>
/// One tap resource as stored: its attributes by their API names (strings, or for <c>directions</c> an
/// object), and the status the driver gives it. <c>status_reason</c> says why a tap is in ERROR.
/// </summary>
public sealed record TapResource(TapKind Kind, string Id, string TenantId, IReadOnlyDictionary<string, JsonNode?> Attributes, string Status, string? StatusReason = null)
{
    public string? Text(string name) => Attributes.TryGetValue(name, out var v) && v is JsonValue j && j.TryGetValue<string>(out var s) ? s : null;

    /// <summary>The resource as the API shows it: visible attributes only (<c>network_id</c> never), with its id, owner and status.</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject { ["id"] = Id, ["tenant_id"] = TenantId, ["project_id"] = TenantId };
        foreach (var rule in TapSchema.Rules(Kind))
        {
            if (!rule.Visible || rule.Name is "id" or "tenant_id" or "project_id" or "status") continue;
            o[rule.Name] = Attributes.TryGetValue(rule.Name, out var v) ? v?.DeepClone() : rule.Default?.DeepClone();
        }
        o["status"] = Status;
        if (StatusReason is not null) o["status_reason"] = StatusReason;
        return o;
    }
}

/// <summary>An attribute's rules, as Neutron's resource attribute maps write them.</summary>
public sealed record TapAttribute(string Name, bool AllowPost, bool AllowPut, bool Visible, TapCheck Check, bool Required = false, JsonNode? Default = null);

public enum TapCheck { None, Uuid, String, Direction, VlanFilter, MirrorType, IpAddress, Directions }

/// <summary>A request the API refuses as Neutron would: the status and the NeutronError type and message.</summary>
public sealed class TapRequestException(int status, string type, string message) : Exception(message)
{
    public int Status => status;
    public string Type => type;
}

/// <summary>
/// The attribute maps of seed 004 (tap_services, tap_flows) and of the current TaaS API (vlan_filter,
/// tap_mirrors), and the checks of a POST body and a PUT body against them.
/// </summary>
public static class TapSchema
{
    private static readonly TapAttribute Id = new("id", false, false, true, TapCheck.Uuid);
    private static readonly TapAttribute Tenant = new("tenant_id", true, false, true, TapCheck.String);
    private static readonly TapAttribute Project = new("project_id", true, false, true, TapCheck.String);
    private static readonly TapAttribute Name = new("name", true, true, true, TapCheck.String, Default: "");
    private static readonly TapAttribute Description = new("description", true, true, true, TapCheck.String, Default: "");
    private static readonly TapAttribute Status = new("status", false, false, true, TapCheck.None);

    private static readonly TapAttribute[] Services =
    [
        Id, Tenant, Project, Name, Description,
        new("port_id", true, false, true, TapCheck.Uuid, Required: true),
        new("network_id", true, false, false, TapCheck.Uuid),
        Status,
    ];

    private static readonly TapAttribute[] Flows =
    [
        Id, Tenant, Project, Name, Description,
        new("tap_service_id", true, false, true, TapCheck.Uuid, Required: true),
        new("source_port", true, false, true, TapCheck.Uuid, Required: true),
        new("direction", true, false, true, TapCheck.Direction, Required: true),
        new("vlan_filter", true, false, true, TapCheck.VlanFilter, Default: null),
        Status,
    ];

    private static readonly TapAttribute[] Mirrors =
    [
        Id, Tenant, Project, Name, Description,
        new("port_id", true, false, true, TapCheck.Uuid, Required: true),
        new("mirror_type", true, false, true, TapCheck.MirrorType, Required: true),
        new("remote_ip", true, false, true, TapCheck.IpAddress, Required: true),
        new("directions", true, false, true, TapCheck.Directions, Required: true),
        Status,
    ];

    public static IReadOnlyList<TapAttribute> Rules(TapKind kind) => kind switch
    {
        TapKind.Service => Services,
        TapKind.Flow => Flows,
        _ => Mirrors,
    };

    /// <summary>The singular and plural member names of a kind (<c>tap_service</c>, <c>tap_services</c>).</summary>
    public static (string One, string Many) Names(TapKind kind) => kind switch
    {
        TapKind.Service => ("tap_service", "tap_services"),
        TapKind.Flow => ("tap_flow", "tap_flows"),
        _ => ("tap_mirror", "tap_mirrors"),
    };

    /// <summary>The NeutronError type of a missing resource.</summary>
    public static string NotFoundType(TapKind kind) => kind switch
    {
        TapKind.Service => "TapServiceNotFound",
        TapKind.Flow => "TapFlowNotFound",
        _ => "TapMirrorNotFound",
    };

    public static string Label(TapKind kind) => kind switch
    {
        TapKind.Service => "Tap Service",
        TapKind.Flow => "Tap Flow",
        _ => "Tap Mirror",
    };

    /// <summary>
    /// The attributes of a POST body's resource object, checked and with defaults: unknown attributes, ones
    /// not allowed in POST, missing required ones and invalid values are refused with Neutron's messages.
    /// The owner (<c>tenant_id</c> or <c>project_id</c>) is returned apart, null when absent.
    /// </summary>
    public static (Dictionary<string, JsonNode?> Attributes, string? Tenant) ForCreate(TapKind kind, JsonNode? body)
    {
        var resource = Member(kind, body);
        var rules = Rules(kind);
        var attributes = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        Unknown(resource, rules);
        foreach (var (name, value) in resource)
        {
            var rule = rules.First(r => r.Name == name);
            if (!rule.AllowPost) throw new TapRequestException(400, "HTTPBadRequest", $"Attribute '{name}' not allowed in POST");
            attributes[name] = Checked(rule, value);
        }
        foreach (var rule in rules.Where(r => r.Required && !attributes.ContainsKey(r.Name)))
        {
            throw new TapRequestException(400, "HTTPBadRequest", $"Failed to parse request. Required attribute '{rule.Name}' not specified");
        }
        string? tenant = null;
        if (attributes.Remove("tenant_id", out var t)) tenant = t?.ToString();
        if (attributes.Remove("project_id", out var p))
        {
            if (tenant is not null && tenant != p?.ToString()) throw new TapRequestException(400, "HTTPBadRequest", "'project_id' and 'tenant_id' do not match");
            tenant = p?.ToString();
        }
        foreach (var rule in rules.Where(r => r.AllowPost && r.Default is not null && !attributes.ContainsKey(r.Name))) attributes[rule.Name] = rule.Default!.DeepClone();
        return (attributes, tenant);
    }

    /// <summary>The attributes a PUT changes: only those that allow it (name, description); anything else is refused.</summary>
    public static Dictionary<string, JsonNode?> ForUpdate(TapKind kind, JsonNode? body)
    {
        var resource = Member(kind, body);
        var rules = Rules(kind);
        Unknown(resource, rules);
        var changes = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (name, value) in resource)
        {
            var rule = rules.First(r => r.Name == name);
            if (!rule.AllowPut) throw new TapRequestException(400, "HTTPBadRequest", $"Cannot update read-only attribute {name}");
            changes[name] = Checked(rule, value);
        }
        return changes;
    }

    private static JsonObject Member(TapKind kind, JsonNode? body)
    {
        var one = Names(kind).One;
        if (body is not JsonObject o || o.Count != 1 || o[one] is not JsonObject resource)
        {
            throw new TapRequestException(400, "HTTPBadRequest", $"Failed to parse request. Resource '{one}' not found in the body");
        }
        return resource;
    }

    private static void Unknown(JsonObject resource, IReadOnlyList<TapAttribute> rules)
    {
        var unknown = resource.Select(p => p.Key).Where(k => rules.All(r => r.Name != k)).ToList();
        if (unknown.Count > 0) throw new TapRequestException(400, "HTTPBadRequest", $"Unrecognized attribute(s) '{string.Join(", ", unknown)}'");
    }

    private static JsonNode? Checked(TapAttribute rule, JsonNode? value)
    {
        string Invalid(string reason) => throw new TapRequestException(400, "HTTPBadRequest", $"Invalid input for {rule.Name}. Reason: {reason}.");
        string? AsString() => value is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        switch (rule.Check)
        {
            case TapCheck.String:
                if (AsString() is not { } text) return Invalid($"'{value?.ToJsonString()}' is not a valid string");
                if (text.Length > 255) return Invalid($"'{text[..20]}…' exceeds maximum length of 255");
                return text;
            case TapCheck.Uuid:
                if (AsString() is not { } u || !Guid.TryParseExact(u, "D", out _)) return Invalid($"'{AsString() ?? value?.ToJsonString()}' is not a valid UUID");
                return u.ToLowerInvariant();
            case TapCheck.Direction:
                if (AsString() is not ("IN" or "OUT" or "BOTH") ) return Invalid($"'{AsString() ?? value?.ToJsonString()}' is not in ['IN', 'OUT', 'BOTH']");
                return AsString();
            case TapCheck.MirrorType:
                if (AsString() is not ("gre" or "erspanv1")) return Invalid($"'{AsString() ?? value?.ToJsonString()}' is not in ['erspanv1', 'gre']");
                return AsString();
            case TapCheck.IpAddress:
                if (AsString() is not { } ip || !IPAddress.TryParse(ip, out _) || ip.Contains('/')) return Invalid($"'{AsString() ?? value?.ToJsonString()}' is not a valid IP address");
                return IPAddress.Parse(ip).ToString();
            case TapCheck.VlanFilter:
                if (value is null) return null;
                if (AsString() is not { } f || VlanFilter.Parse(f) is null) return Invalid($"'{AsString() ?? value.ToJsonString()}' is not a valid VLAN filter (VLAN ids and ranges from 1 to 4094, e.g. 9,18-27,36)");
                return f;
            case TapCheck.Directions:
                if (value is not JsonObject d || d.Count == 0 || d.Count > 2) return Invalid("directions is an object of 'IN' and/or 'OUT', each a tunnel id");
                var copy = new JsonObject();
                foreach (var (k, n) in d)
                {
                    if (k is not ("IN" or "OUT")) return Invalid($"'{k}' is not a direction: expected IN or OUT");
                    if (n is not JsonValue nv || !nv.TryGetValue<long>(out var id) || id < 0 || id > 1023) return Invalid($"the tunnel id of {k} is a whole number from 0 to 1023 (an ERSPAN session id; a GRE key)");
                    copy[k] = id;
                }
                if (d.Count == 2 && (long)copy["IN"]! == (long)copy["OUT"]!) return Invalid("IN and OUT need different tunnel ids");
                return copy;
            default:
                return Invalid("not settable");
        }
    }
}

/// <summary>A VLAN filter as the TaaS API writes it ("9,18-27,36"): the VLAN ids it selects.</summary>
public static class VlanFilter
{
    public static SortedSet<int>? Parse(string text)
    {
        var vlans = new SortedSet<int>();
        foreach (var part in text.Split(','))
        {
            var range = part.Trim().Split('-');
            if (range.Length is < 1 or > 2 || !int.TryParse(range[0], out var low) || low is < 1 or > 4094) return null;
            var high = low;
            if (range.Length == 2 && (!int.TryParse(range[1], out high) || high < low || high > 4094)) return null;
            for (var v = low; v <= high; v++) vlans.Add(v);
        }
        return vlans;
    }
}
