using Flowline.Wire.Capture;
using Flowline.Records;

namespace Flowline.Wire.Tests;

/// <summary>The shared exporter captures and their reference decodes (shared/captures beside the repository).</summary>
public static class TestCorpus
{
    private static readonly Lazy<string> Dir = new(Locate);

    public static string CapturesDirectory => Dir.Value;

    private static string Locate()
    {
        var env = Environment.GetEnvironmentVariable("FLOWLINE_CAPTURES");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return env;
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Flowline.slnx")))
            {
                var shared = Path.Combine(dir.FullName, "..", "shared", "captures");
                if (Directory.Exists(shared)) return Path.GetFullPath(shared);
            }
            dir = dir.Parent;
        }
        throw new DirectoryNotFoundException("shared/captures not found beside the repository; set FLOWLINE_CAPTURES");
    }

    /// <summary>Every capture that has a reference decode beside it; new captures are picked up by name.</summary>
    public static IEnumerable<string> ReferencedCaptures() =>
        Directory.EnumerateFiles(CapturesDirectory, "*.pcap")
            .Where(p => new[] { ".totals.json", ".nfdump.csv", ".tshark.json", ".tshark.json.gz" }.Any(ext => File.Exists(Path.ChangeExtension(p, ext))))
            .Select(p => Path.GetFileNameWithoutExtension(p))
            .OrderBy(n => n, StringComparer.Ordinal);

    public static TheoryData<string> CaptureNames() => Names(ReferencedCaptures());

    /// <summary>Captures with a tshark JSON decode beside them (plain or gzipped).</summary>
    public static TheoryData<string> TsharkCaptures() => Names(ReferencedCaptures().Where(n =>
        File.Exists(Path.Combine(CapturesDirectory, n + ".tshark.json")) || File.Exists(Path.Combine(CapturesDirectory, n + ".tshark.json.gz"))));

    /// <summary>Captures with an nfdump CSV decode beside them.</summary>
    public static TheoryData<string> NfdumpCaptures() => Names(ReferencedCaptures().Where(n =>
        File.Exists(Path.Combine(CapturesDirectory, n + ".nfdump.csv"))));

    private static TheoryData<string> Names(IEnumerable<string> names)
    {
        var data = new TheoryData<string>();
        foreach (var n in names) data.Add(n);
        return data;
    }

    public sealed record Datagram(byte[] Payload, FlowAddress Source, long Timestamp);

    public static List<Datagram> Datagrams(string name)
    {
        var list = new List<Datagram>();
        using var reader = CaptureReader.Open(Path.Combine(CapturesDirectory, name + ".pcap"));
        while (reader.TryRead(out var d))
        {
            list.Add(new Datagram(d.Payload.ToArray(), d.Src, d.Timestamp));
        }
        return list;
    }

    /// <summary>Decodes a capture in order with one decoder, as a collector would.</summary>
    public static (FlowBatch Batch, FlowDecoder Decoder) Decode(string name)
    {
        var decoder = new FlowDecoder();
        var batch = new FlowBatch();
        foreach (var d in Datagrams(name))
        {
            decoder.Decode(d.Payload, d.Source, d.Timestamp, batch);
        }
        return (batch, decoder);
    }
}
