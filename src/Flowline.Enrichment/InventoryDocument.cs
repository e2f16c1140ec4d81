using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Flowline.Enrichment;

/// <summary>
/// The inventory file as a document to read and edit through the API: YAML (or JSON) in, a JSON tree out,
/// objects found by their key (an account's id, a network's name, a port's or security group's uuid).
/// Every edit is validated as a whole by <see cref="InventoryFile.Parse"/> before it is written.
/// </summary>
public static class InventoryDocument
{
    /// <summary>The document's lists and the member that names each object in them.</summary>
    public static readonly IReadOnlyDictionary<string, string> Kinds = new Dictionary<string, string>
    {
        ["accounts"] = "id",
        ["networks"] = "name",
        ["ports"] = "uuid",
        ["security_groups"] = "uuid",
    };

    /// <summary>The file's text as JSON: plain scalars that read as numbers, booleans or null become those.</summary>
    /// <exception cref="InventoryException">The text is not YAML or not a mapping at the top.</exception>
    public static JsonObject Read(string text)
    {
        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new InventoryException("inventory", [new InventoryError((int)e.Start.Line, "syntax", e.Message)]);
        }
        if (yaml.Documents.Count == 0) return [];
        return Convert(yaml.Documents[0].RootNode) as JsonObject
               ?? throw new InventoryException("inventory", [new InventoryError(1, "document", "the inventory is a mapping of accounts, networks, ports and security_groups")]);
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", Convert(kv.Value)))),
        YamlSequenceNode s => new JsonArray(s.Children.Select(Convert).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain } p => Plain(p.Value ?? ""),
        YamlScalarNode q => JsonValue.Create(q.Value ?? ""),
        _ => null,
    };

    private static JsonNode? Plain(string v)
    {
        if (v is "" or "~" or "null") return null;
        if (v is "true" or "false") return JsonValue.Create(v == "true");
        if (long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return JsonValue.Create(n);
        return JsonValue.Create(v);
    }

    /// <summary>The document as an account sees it: its own account entry and the networks, ports and groups it owns.</summary>
    public static JsonObject OfAccount(JsonObject document, string account)
    {
        var result = new JsonObject();
        foreach (var (kind, key) in Kinds)
        {
            var owner = kind == "accounts" ? key : "account";
            var items = document[kind] as JsonArray ?? [];
            result[kind] = new JsonArray(items.Where(i => i is JsonObject o && Text(o[owner]) == account).Select(i => i!.DeepClone()).ToArray());
        }
        return result;
    }

    /// <summary>Adds or replaces the object of <paramref name="kind"/> named <paramref name="id"/>; true when it replaced one.</summary>
    public static bool Put(JsonObject document, string kind, string id, JsonObject item)
    {
        var key = Kinds[kind];
        item[key] = id;
        if (document[kind] is not JsonArray items) document[kind] = items = [];
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is JsonObject o && Text(o[key]) == id)
            {
                items[i] = item;
                return true;
            }
        }
        items.Add(item);
        return false;
    }

    /// <summary>Removes the object of <paramref name="kind"/> named <paramref name="id"/>; false when there is none.</summary>
    public static bool Delete(JsonObject document, string kind, string id)
    {
        if (document[kind] is not JsonArray items) return false;
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is JsonObject o && Text(o[Kinds[kind]]) == id)
            {
                items.RemoveAt(i);
                return true;
            }
        }
        return false;
    }

    /// <summary>The object of <paramref name="kind"/> named <paramref name="id"/>, or null.</summary>
    public static JsonObject? Find(JsonObject document, string kind, string id) =>
        (document[kind] as JsonArray ?? []).OfType<JsonObject>().FirstOrDefault(o => Text(o[Kinds[kind]]) == id);

    /// <summary>The document as the file is written: indented JSON, which the inventory reader takes as YAML.</summary>
    public static string Write(JsonObject document) =>
        document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";

    private static string? Text(JsonNode? n) => n is JsonValue v ? v.ToString() : null;
}
