using System.Text.Json.Nodes;

namespace Flowline.Wire.Ovsdb;

/// <summary>
/// OVSDB's JSON notation of values (RFC 7047 section 5.1): atoms, <c>["uuid", …]</c>,
/// <c>["named-uuid", …]</c>, <c>["set", […]]</c> (a set of one may be written as its element) and
/// <c>["map", [[k, v], …]]</c>; and the operations of a <c>transact</c> (section 5.2) that Flowline uses.
/// </summary>
public static class OvsdbValue
{
    public static JsonArray Uuid(string uuid) => ["uuid", uuid];
    public static JsonArray NamedUuid(string name) => ["named-uuid", name];
    public static JsonArray Set(IEnumerable<JsonNode?> items) => ["set", new JsonArray([.. items])];
    public static JsonArray UuidSet(IEnumerable<string> uuids) => Set(uuids.Select(u => (JsonNode?)Uuid(u)));
    public static JsonArray Map(IEnumerable<KeyValuePair<string, string>> pairs) =>
        ["map", new JsonArray([.. pairs.Select(p => (JsonNode?)new JsonArray(p.Key, p.Value))])];

    /// <summary>The elements of a set column (a bare atom is a set of one).</summary>
    public static IEnumerable<JsonNode> Elements(JsonNode? value)
    {
        if (value is JsonArray { Count: 2 } a && a[0]?.GetValue<string>() == "set" && a[1] is JsonArray items)
        {
            foreach (var item in items)
            {
                if (item is not null) yield return item;
            }
        }
        else if (value is not null) yield return value;
    }

    /// <summary>The uuids of a set of references.</summary>
    public static IEnumerable<string> Uuids(JsonNode? value)
    {
        foreach (var e in Elements(value))
        {
            if (e is JsonArray { Count: 2 } u && u[0]?.GetValue<string>() == "uuid" && u[1]?.GetValue<string>() is { } id) yield return id;
        }
    }

    /// <summary>A map column as a dictionary of strings (other values as their JSON text).</summary>
    public static Dictionary<string, string> Pairs(JsonNode? value)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        if (value is JsonArray { Count: 2 } a && a[0]?.GetValue<string>() == "map" && a[1] is JsonArray pairs)
        {
            foreach (var p in pairs)
            {
                if (p is JsonArray { Count: 2 } kv && kv[0] is JsonValue k) d[k.ToString()] = kv[1] is JsonValue v ? v.ToString() : kv[1]?.ToJsonString() ?? "";
            }
        }
        return d;
    }

    /// <summary>Integers of a set column (e.g. <c>select_vlan</c>).</summary>
    public static IEnumerable<long> Integers(JsonNode? value)
    {
        foreach (var e in Elements(value))
        {
            if (e is JsonValue v && v.TryGetValue<long>(out var n)) yield return n;
        }
    }

    public static JsonObject Insert(string table, JsonObject row, string? uuidName = null)
    {
        var op = new JsonObject { ["op"] = "insert", ["table"] = table, ["row"] = row };
        if (uuidName is not null) op["uuid-name"] = uuidName;
        return op;
    }

    public static JsonArray Where(string column, string function, JsonNode value) => [new JsonArray(column, function, value)];

    public static JsonObject Mutate(string table, JsonArray where, string column, string mutator, JsonNode value) =>
        new() { ["op"] = "mutate", ["table"] = table, ["where"] = where, ["mutations"] = new JsonArray(new JsonArray(column, mutator, value)) };

    /// <summary>Fails the transaction unless the rows <paramref name="where"/> selects hold exactly <paramref name="rows"/> in <paramref name="columns"/> now.</summary>
    public static JsonObject Wait(string table, JsonArray where, IEnumerable<string> columns, JsonArray rows) =>
        new()
        {
            ["op"] = "wait", ["table"] = table, ["where"] = where, ["columns"] = new JsonArray([.. columns.Select(c => (JsonNode?)c)]),
            ["until"] = "==", ["rows"] = rows, ["timeout"] = 0,
        };

    public static JsonObject Select(string table, IEnumerable<string> columns) =>
        new() { ["op"] = "select", ["table"] = table, ["where"] = new JsonArray(), ["columns"] = new JsonArray([.. columns.Select(c => (JsonNode?)c)]) };

    public static JsonObject Comment(string text) => new() { ["op"] = "comment", ["comment"] = text };
}
