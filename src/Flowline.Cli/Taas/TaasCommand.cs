using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Api;
using Flowline.Cli.Api;
using Flowline.Records;

namespace Flowline.Cli.Taas;

/// <summary>
/// `flowline taas`: the Tap-as-a-Service resources of a server, as `openstack tap service|flow|mirror`
/// handles them, signed with the caller's access key.
/// </summary>
public static class TaasCommand
{
    public const string Help = """
        Usage: flowline taas service|flow|mirror create|list|show|update|delete [ID] [options]

        Mirror a port's traffic (docs/TAAS.md): a tap service is the port the copies are delivered to (its
        port security off), a tap flow the port they are taken from; a tap mirror sends them to a remote
        analyzer over GRE or ERSPAN.

          flowline taas service create --port PORT [--name N] [--description D]
          flowline taas flow create --service TAP_SERVICE --port SOURCE_PORT --direction IN|OUT|BOTH
                                    [--vlan-filter 9,18-27] [--name N] [--description D]
          flowline taas mirror create --port PORT --type gre|erspanv1 --remote-ip IP --directions IN=101,OUT=102
                                      [--name N] [--description D]
          flowline taas KIND list [--filter ATTRIBUTE=VALUE ...] [--field NAME ...]
          flowline taas KIND show ID
          flowline taas KIND update ID [--name N] [--description D]
          flowline taas KIND delete ID           (a tap service takes its tap flows with it)

        Options:
          --project ACC         act for another account (an admin key and FLOWLINE_ADMIN_PASSWORD)
          --all                 list every account's (an admin key and FLOWLINE_ADMIN_PASSWORD)
          -f, --format table|json  output (default table)
          --endpoint URL        the server (default FLOWLINE_URL, else http://127.0.0.1:8008)
          --openrc FILE         read credentials from a file of `export NAME=value` lines
          --ca-cert FILE        trust this PEM certificate for https endpoints

        Credentials: FLOWLINE_ACCESS_KEY, FLOWLINE_SECRET_KEY, FLOWLINE_URL, FLOWLINE_ADMIN_PASSWORD, from the
        environment or --openrc. Exit status: 0 done, 1 the server refused (its message is printed), 2 bad arguments.
        """;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" || (args.Length > 1 && args[1] is "--help" or "-h"))
        {
            HelpText.Print(stdout, Help);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            var (collection, one) = args[0] switch
            {
                "service" => ("tap_services", "tap_service"),
                "flow" => ("tap_flows", "tap_flow"),
                "mirror" => ("tap_mirrors", "tap_mirror"),
                var other => throw new ArgumentException($"'{other}': expected service, flow or mirror"),
            };
            if (args.Length < 2) throw new ArgumentException("expected create, list, show, update or delete");
            var action = args[1];
            string? id = null, endpoint = null, openrc = null, caCert = null, format = "table";
            var all = false;
            var attributes = new JsonObject();
            var filters = new List<KeyValuePair<string, string>>();
            var i = 2;
            if (action is "show" or "update" or "delete")
            {
                if (args.Length < 3 || args[2].StartsWith('-')) throw new ArgumentException($"{action} needs the resource's id");
                id = args[2];
                i = 3;
            }
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            for (; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--name": attributes["name"] = Next(); break;
                    case "--description": attributes["description"] = Next(); break;
                    case "--port": attributes[one == "tap_flow" ? "source_port" : "port_id"] = Next(); break;
                    case "--network": attributes["network_id"] = Next(); break;
                    case "--service": attributes["tap_service_id"] = Next(); break;
                    case "--direction": attributes["direction"] = Next(); break;
                    case "--vlan-filter": attributes["vlan_filter"] = Next(); break;
                    case "--type": attributes["mirror_type"] = Next(); break;
                    case "--remote-ip": attributes["remote_ip"] = Next(); break;
                    case "--directions": attributes["directions"] = Directions(Next()); break;
                    case "--project": attributes["project_id"] = Next(); break;
                    case "--all": all = true; break;
                    case "--filter":
                        var f = Next();
                        var eq = f.IndexOf('=', StringComparison.Ordinal);
                        if (eq <= 0) throw new ArgumentException($"--filter {f}: expected ATTRIBUTE=VALUE");
                        filters.Add(new(f[..eq], f[(eq + 1)..]));
                        break;
                    case "--field": filters.Add(new("fields", Next())); break;
                    case "-f" or "--format":
                        format = Next();
                        if (format is not ("table" or "json")) throw new ArgumentException("--format: expected table or json");
                        break;
                    case "--endpoint": endpoint = Next(); break;
                    case "--openrc": openrc = Next(); break;
                    case "--ca-cert": caCert = Next(); break;
                    default: throw new ArgumentException($"unknown option '{args[i]}'");
                }
            }
            // list --project: that account's taps alone (the password opens every account; the filter picks one).
            if (action == "list" && attributes.TryGetPropertyValue("project_id", out var project)) filters.Add(new("tenant_id", project!.ToString()));
            var connection = ApiConnection.From(endpoint, openrc, caCert);
            var forOthers = all || attributes.ContainsKey("project_id");
            if (forOthers && connection.AdminPassword is null)
            {
                // Without the password the server answers for the key's own account: a list that looked like every account's, or none.
                stderr.WriteLine($"flowline taas: {(all ? "--all" : "--project")} acts for other accounts: it needs an admin key and the admin password in FLOWLINE_ADMIN_PASSWORD");
                return 1;
            }
            var path = "/v2.0/taas/" + collection;
            var (method, target, body) = action switch
            {
                "create" => (HttpMethod.Post, path, new JsonObject { [one] = attributes }),
                "list" => (HttpMethod.Get, path, null),
                "show" => (HttpMethod.Get, path + "/" + id, null),
                "update" => (HttpMethod.Put, path + "/" + id, new JsonObject { [one] = attributes }),
                "delete" => (HttpMethod.Delete, path + "/" + id, null),
                _ => throw new ArgumentException($"'{action}': expected create, list, show, update or delete"),
            };
            var (status, answer) = Send(connection, method, target, action == "list" ? filters : [], body, admin: forOthers);
            if (status >= 400)
            {
                var error = answer?["NeutronError"];
                stderr.WriteLine($"flowline taas: {status} {error?["type"]}: {error?["message"] ?? answer?.ToJsonString()}");
                return 1;
            }
            if (action == "delete")
            {
                stdout.WriteLine($"deleted {one.Replace('_', ' ')} {id}");
                return 0;
            }
            if (format == "json") stdout.WriteLine(answer?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else if (answer?[collection] is JsonArray list) Table(stdout, list);
            else if (answer?[one] is JsonObject item) Fields(stdout, item);
            return 0;
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"flowline taas: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            stderr.WriteLine($"flowline taas: the server cannot be reached: {e.Message}");
            return 1;
        }
    }

    private static JsonObject Directions(string text)
    {
        var o = new JsonObject();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !long.TryParse(part[(eq + 1)..], out var n)) throw new ArgumentException($"--directions {text}: expected IN=ID,OUT=ID");
            o[part[..eq]] = n;
        }
        return o;
    }

    private static (int Status, JsonNode? Body) Send(ApiConnection connection, HttpMethod method, string path, List<KeyValuePair<string, string>> query, JsonObject? body, bool admin)
    {
        var bytes = body is null ? [] : Encoding.UTF8.GetBytes(body.ToJsonString());
        var url = connection.Base.ToString().TrimEnd('/') + path + (query.Count == 0 ? "" : "?" + string.Join('&', query.Select(q => Uri.EscapeDataString(q.Key) + "=" + Uri.EscapeDataString(q.Value))));
        using var http = connection.Client();
        using var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(bytes);
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        }
        request.Headers.TryAddWithoutValidation("Authorization", Signatures.ApiAuthorization(connection.KeyId, connection.Secret, method.Method, path, query, bytes, DateTimeOffset.UtcNow));
        if (admin && connection.AdminPassword is { } password) request.Headers.TryAddWithoutValidation(AdminGrant.PasswordHeader, password);
        using var response = http.Send(request);
        var text = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        JsonNode? parsed = null;
        try
        {
            parsed = text.Length == 0 ? null : JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            parsed = new JsonObject { ["NeutronError"] = new JsonObject { ["type"] = "", ["message"] = text } };
        }
        return ((int)response.StatusCode, parsed);
    }

    private static string Show(JsonNode? v) => v switch
    {
        null => "",
        JsonValue j when j.TryGetValue<string>(out var s) => s,
        _ => v.ToJsonString(),
    };

    private static void Fields(TextWriter w, JsonObject item)
    {
        var width = item.Max(p => p.Key.Length);
        foreach (var (k, v) in item) w.WriteLine($"{k.PadRight(width)}  {Show(v)}");
    }

    private static void Table(TextWriter w, JsonArray list)
    {
        var rows = list.OfType<JsonObject>().ToList();
        if (rows.Count == 0)
        {
            w.WriteLine("(none)");
            return;
        }
        var columns = rows.SelectMany(r => r.Select(p => p.Key)).Distinct().Where(c => c is not ("tenant_id" or "description")).ToList();
        var widths = columns.Select(c => Math.Max(c.Length, rows.Max(r => Show(r[c]).Length))).ToList();
        w.WriteLine(string.Join("  ", columns.Select((c, k) => c.PadRight(widths[k]))).TrimEnd());
        foreach (var r in rows) w.WriteLine(string.Join("  ", columns.Select((c, k) => Show(r[c]).PadRight(widths[k]))).TrimEnd());
    }
}
