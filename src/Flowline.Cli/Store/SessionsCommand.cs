using System.Globalization;
using System.Text.Json;
using Flowline.Query;
using Flowline.Sessions;
using Flowline.Records;

namespace Flowline.Cli.Store;

/// <summary>`flowline sessions`: stored one-way flows stitched into bidirectional sessions and SessionEndpoints.</summary>
internal static class SessionsCommand
{
    public const string Help = """
        Usage: flowline sessions --data-dir DIR [--from TIME] [--to TIME] [FILTER ...] [options]

        Stitches the stored flows whose start lies in [--from, --to) (RFC 3339; default: all) and that match
        the filter (the language of `flowline query`) into bidirectional sessions: a flow and its reverse,
        seen by the same exporter (and the same port, VMI, when the flows were enriched), are one session,
        oriented from its client to its server.

        The client is, in this order: for ICMP the sender of the echo request (or of a lone message); for TCP
        the sender of a SYN that was never answered; the end whose first packet came first; else the end that
        is not on the service port (a --service-port, else a port below 1024, else the lower port).

        Options:
          --endpoints          print SessionEndpoints instead (seed 001's SessionEndpointData as JSON): per
                               port, rule and remote end, aggregates keyed by local address, protocol and
                               service port, each with its sessions keyed by remote address and client port
          --service-port P     a port that is always the server's (repeatable, or P,P,...)
          --observation O      which observations of a packet count: auto (default: each direction counts the
                               records reported as ingress if it has any, else the egress ones), ingress,
                               egress, both
          -o FORMAT            table (default), csv or json (sessions); --endpoints is always JSON
          -n N                 at most N sessions, the largest first (default: all, largest first)
        Counts: forward = client to server, reverse = server to client; bytes and packets are the stored
        (scaled) estimates.
        """;

    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(Console.Out, Help);
            return 0;
        }
        string? dataDir = null;
        long from = long.MinValue, to = long.MaxValue, limit = 0;
        var filterWords = new List<string>();
        var servicePorts = new HashSet<ushort>();
        var format = "table";
        var endpoints = false;
        var observation = SessionObservation.Auto;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                var a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
                switch (a)
                {
                    case "--data-dir": dataDir = Next(); break;
                    case "--from": from = CliArgs.ParseTime(a, Next()); break;
                    case "--to": to = CliArgs.ParseTime(a, Next()); break;
                    case "--endpoints": endpoints = true; break;
                    case "--observation":
                        try
                        {
                            observation = SessionObservations.Parse(Next());
                        }
                        catch (FormatException e)
                        {
                            throw new ArgumentException($"--observation {e.Message}");
                        }
                        break;
                    case "--service-port":
                        foreach (var p in Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        {
                            if (!ushort.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port == 0)
                                throw new ArgumentException($"--service-port {p}: expected a port from 1 to 65535");
                            servicePorts.Add(port);
                        }
                        break;
                    case "-n":
                        if (!long.TryParse(Next(), out limit) || limit <= 0) throw new ArgumentException("-n: expected a positive number");
                        break;
                    case "-o":
                        format = Next();
                        if (format is not ("table" or "csv" or "json")) throw new ArgumentException($"-o {format}: expected table, csv or json");
                        break;
                    default:
                        if (a.StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unknown option {a} (see `flowline sessions --help`)");
                        filterWords.Add(a);
                        break;
                }
            }
            CliArgs.CheckRange(dataDir, from, to);
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"flowline sessions: {e.Message}");
            return 2;
        }

        if (CliArgs.OpenFiltered("sessions", dataDir!, filterWords, stderr) is not { } opened) return 2;
        var (store, filter) = opened;
        using var storeOpened = store;
        var names = store.Symbols;
        var sessionizer = new Sessionizer(new SessionizerOptions { ServicePorts = servicePorts, Observation = observation });
        foreach (var r in store.Rows(from, to, filter)) sessionizer.Add(r);
        var sessions = sessionizer.Flush(long.MaxValue / 2);
        sessions.Sort((x, y) => y.TotalBytes.CompareTo(x.TotalBytes));
        var total = sessions.Count;
        if (limit > 0 && sessions.Count > limit) sessions.RemoveRange((int)limit, sessions.Count - (int)limit);

        var output = Console.Out;
        if (endpoints)
        {
            var aggregator = new EndpointAggregator();
            foreach (var s in sessions) aggregator.Add(s, sampled: true, scale: 1, logged: false);
            WriteEndpoints(aggregator, names);
            return 0;
        }
        switch (format)
        {
            case "json":
                WriteJson(sessions, names);
                break;
            default:
                WriteRows(sessions, names, output, csv: format == "csv");
                break;
        }
        stderr.WriteLine($"flowline sessions: {sessionizer.Records} flows, {total} sessions{(total > sessions.Count ? $" ({sessions.Count} shown)" : "")}");
        return 0;
    }

    private static readonly string[] Columns =
    [
        "client_addr", "client_port", "server_addr", "server_port", "ip_proto", "forward_bytes", "forward_packets", "reverse_bytes",
        "reverse_packets", "setup", "teardown", "client_by", "exporter", "account", "vmi", "local",
    ];

    private static string[] Values(Session s, Flowline.Records.ISymbolNames names) =>
    [
        s.ClientIp.ToString(), Num(s.ClientPort), s.ServerIp.ToString(), Num(s.ServerPort), Num(s.Protocol),
        Num(s.Forward.Bytes), Num(s.Forward.Packets), Num(s.Reverse.Bytes), Num(s.Reverse.Packets),
        CliArgs.Time(s.Setup), s.Teardown == 0 ? "" : CliArgs.Time(s.Teardown), RuleName(s.Rule), s.Exporter.ToString(),
        names.Name(s.Account) ?? "", names.Name(s.Vmi) ?? "", s.LocalIsClient ? "client" : "server",
    ];

    private static string Num<T>(T v) where T : IFormattable => v.ToString(null, CultureInfo.InvariantCulture);

    private static string RuleName(ClientRule r) => r switch
    {
        ClientRule.Icmp => "icmp",
        ClientRule.Syn => "syn",
        ClientRule.FirstPacket => "first-packet",
        _ => "service-port",
    };

    private static void WriteRows(List<Session> sessions, Flowline.Records.ISymbolNames names, TextWriter output, bool csv)
    {
        var rows = new List<string[]> { Columns };
        foreach (var s in sessions) rows.Add(Values(s, names));
        if (csv)
        {
            foreach (var row in rows) output.WriteLine(string.Join(',', row));
            return;
        }
        var widths = new int[Columns.Length];
        foreach (var row in rows)
        {
            for (var c = 0; c < row.Length; c++) widths[c] = Math.Max(widths[c], row[c].Length);
        }
        foreach (var row in rows)
        {
            output.WriteLine(string.Join("  ", row.Select((v, c) => v.PadRight(widths[c]))).TrimEnd());
        }
    }

    private static void WriteJson(List<Session> sessions, Flowline.Records.ISymbolNames names)
    {
        using var stream = Console.OpenStandardOutput();
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartArray();
        foreach (var s in sessions)
        {
            w.WriteStartObject();
            w.WriteString("client_addr", s.ClientIp.ToString());
            w.WriteNumber("client_port", s.ClientPort);
            w.WriteString("server_addr", s.ServerIp.ToString());
            w.WriteNumber("server_port", s.ServerPort);
            w.WriteNumber("ip_proto", s.Protocol);
            w.WriteString("client_by", RuleName(s.Rule));
            Direction(w, "forward", s.Forward, names);
            Direction(w, "reverse", s.Reverse, names);
            w.WriteString("setup", CliArgs.Time(s.Setup));
            if (s.Teardown != 0) w.WriteString("teardown", CliArgs.Time(s.Teardown));
            w.WriteString("exporter", s.Exporter.ToString());
            if (names.Name(s.Account) is { } account) w.WriteString("account", account);
            if (names.Name(s.Vmi) is { } vmi) w.WriteString("vmi", vmi);
            w.WriteString("local", s.LocalIsClient ? "client" : "server");
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.Flush();
        stream.WriteByte((byte)'\n');
    }

    private static void Direction(Utf8JsonWriter w, string name, in SessionDirection d, Flowline.Records.ISymbolNames names)
    {
        w.WriteStartObject(name);
        w.WriteNumber("bytes", d.Bytes);
        w.WriteNumber("packets", d.Packets);
        w.WriteNumber("flows", d.Flows);
        w.WriteNumber("tcp_flags", d.TcpFlags);
        if (d.Seen)
        {
            w.WriteString("flow_uuid", d.FlowId.ToString());
            w.WriteString("start", CliArgs.Time(d.Start));
            w.WriteString("end", CliArgs.Time(d.End));
            if (FlowAction.Name(d.Action) is { Length: > 0 } action) w.WriteString("action", action);
            if (names.Name(d.SgRule) is { } rule) w.WriteString("sg_rule_uuid", rule);
        }
        w.WriteEndObject();
    }

    /// <summary>SessionEndpointData of seed 001, one object per endpoint, as agents ship them.</summary>
    private static void WriteEndpoints(EndpointAggregator aggregator, Flowline.Records.ISymbolNames names)
    {
        using var stream = Console.OpenStandardOutput();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            SessionEndpointJson.WriteEndpoints(w, aggregator.Endpoints, names);
        }
        stream.WriteByte((byte)'\n');
    }
}
