namespace Flowline.Cli.Decode;

internal enum DecodeFormat
{
    Flows,
    Csv,
    Grep,
    Json,
    Jsonl,
    Pcap,
}

/// <summary>The parsed command line of `flowline decode`.</summary>
internal sealed class DecodeOptions
{
    public List<string> Pcaps { get; } = [];
    public List<System.Net.IPEndPoint> Listen { get; } = [];
    public DecodeFormat Format { get; set; } = DecodeFormat.Flows;
    public CsvColumn[]? Fields { get; set; }
    public bool Header { get; set; } = true;
    public string Output { get; set; } = "-";
    public long Count { get; set; } = long.MaxValue;
    public double Seconds { get; set; } = double.PositiveInfinity;
    public bool Quiet { get; set; }
    public int ReceiveBuffer { get; set; } = 8 << 20;

    public const string Help = """
        Usage: flowline decode (--pcap FILE | --listen udp://ADDR:PORT ...) [options]

        Decodes sFlow v5, NetFlow v5, NetFlow v9 and IPFIX datagrams, from a capture file (pcap or
        pcapng) or live from UDP sockets, and prints them. The protocol of each datagram is
        recognised from its header, whatever the port.

        Input:
          --pcap FILE               read the UDP datagrams of a pcap/pcapng capture (repeatable)
          --listen udp://ADDR:PORT  receive datagrams on a UDP socket, e.g. udp://0.0.0.0:6343,
                                    udp://[::]:4739 (repeatable)
          --count N                 stop after N datagrams
          --seconds S               stop after S seconds (listening) 

        Output:
          --format FORMAT           flows (default): one canonical flow record per line, CSV with a header
                                    csv: chosen --fields, one line per flow record (without --fields,
                                      17 of the values `sflowtool -l` prints, under a header, in decimal,
                                      without its FLOW tag, TTL and IP size; addresses and ports of
                                      any kind, ICMP as type*256+code in dst_port)
                                    grep: sflowtool -g style, one "context name value" line per value
                                      (control characters in an agent's text as \xNN)
                                    json: one pretty JSON object per datagram, values as strings
                                    jsonl: one JSON object per line per datagram
                                    pcap: the packet headers sampled by sFlow, as a pcap stream
          --fields a,b,...          columns for csv: canonical names (see `flowline fields`) or
                                    sflowtool -L names (srcIP, dstIP, TCPSrcPort, agent, ...)
          --no-header               csv/flows: no header line
          -o, --output FILE         write to FILE instead of standard output ("-")
          -q, --quiet               no summary on standard error

        A summary (datagrams, samples/records, templates, malformed by reason) goes to standard error.
        Exit status: 0 on success, 1 when the input cannot be read or a capture ends inside a packet
        (cut short: the packets before the cut are printed, as tcpdump does), 2 for a usage error.
        """;

    /// <summary>Parses arguments; returns an error message or null.</summary>
    public static string? TryParse(string[] args, out DecodeOptions options)
    {
        options = new DecodeOptions();
        string? fields = null;
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            string Next()
            {
                if (i + 1 >= args.Length) throw new ArgumentException($"{a} needs a value");
                return args[++i];
            }
            try
            {
                switch (a)
                {
                    case "--pcap" or "-r":
                        options.Pcaps.Add(Next());
                        break;
                    case "--listen" or "-l":
                    {
                        try
                        {
                            options.Listen.Add(Ingest.CollectorOptions.ParseUdp(Next(), "--listen", anyPort: true));
                        }
                        catch (FormatException e)
                        {
                            return e.Message;
                        }
                        break;
                    }
                    case "--format" or "-f":
                    {
                        var v = Next();
                        if (!Enum.TryParse<DecodeFormat>(v, ignoreCase: true, out var f) || v.Any(char.IsDigit))
                            return $"--format {v}: expected one of flows, csv, grep, json, jsonl, pcap";
                        options.Format = f;
                        break;
                    }
                    case "--fields" or "-L":
                        fields = Next();
                        break;
                    case "--no-header":
                        options.Header = false;
                        break;
                    case "--output" or "-o":
                        options.Output = Next();
                        break;
                    case "--count" or "-c":
                    {
                        var v = Next();
                        if (!long.TryParse(v, out var n) || n <= 0) return $"--count {v}: expected a positive whole number";
                        options.Count = n;
                        break;
                    }
                    case "--seconds":
                    {
                        var v = Next();
                        if (!double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var s) || s <= 0)
                            return $"--seconds {v}: expected a positive number";
                        options.Seconds = s;
                        break;
                    }
                    case "--quiet" or "-q":
                        options.Quiet = true;
                        break;
                    default:
                        return $"unknown option {a} (see `flowline decode --help`)";
                }
            }
            catch (ArgumentException e)
            {
                return e.Message;
            }
        }
        if (options.Pcaps.Count == 0 && options.Listen.Count == 0)
        {
            return "nothing to decode: give --pcap FILE or --listen udp://ADDR:PORT";
        }
        if (options.Pcaps.Count > 0 && options.Listen.Count > 0)
        {
            return "--pcap and --listen cannot be combined";
        }
        if (options.Format == DecodeFormat.Csv)
        {
            fields ??= SflowtoolFields.LineColumns;
            var columns = new List<CsvColumn>();
            foreach (var name in fields.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!CsvColumn.TryParse(name, out var column))
                {
                    return $"--fields: unknown field '{name}'. Canonical fields: {string.Join(",", Records.FlowFields.All.Select(Records.FlowFields.Name))}; " +
                           $"sflowtool fields: {string.Join(",", SflowtoolFields.Names)}";
                }
                columns.Add(column);
            }
            if (columns.Count == 0) return "--fields is empty";
            options.Fields = [.. columns];
        }
        else if (fields is not null)
        {
            return "--fields applies to --format csv only";
        }
        if (options.Format == DecodeFormat.Flows)
        {
            options.Fields = Records.FlowFields.Decoded.Select(f => new CsvColumn(Records.FlowFields.Name(f), f, null)).ToArray();
        }
        return null;
    }

}
