using Flowline.Wire.Capture;

namespace Flowline.Bench;

/// <summary>The shared captures (shared/captures beside the repository, or FLOWLINE_CAPTURES).</summary>
public static class Corpus
{
    public static string Directory
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("FLOWLINE_CAPTURES");
            if (!string.IsNullOrEmpty(env)) return env;
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Flowline.slnx")))
                {
                    return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "captures"));
                }
            }
            throw new DirectoryNotFoundException("shared/captures not found; set FLOWLINE_CAPTURES");
        }
    }

    public static byte[][] Datagrams(string capture)
    {
        var list = new List<byte[]>();
        using var reader = CaptureReader.Open(Path.Combine(Directory, capture + ".pcap"));
        while (reader.TryRead(out var d)) list.Add(d.Payload.ToArray());
        return [.. list];
    }

    /// <summary>The capture's datagrams repeated in order up to <paramref name="count"/> entries.</summary>
    public static byte[][] Ring(string capture, int count)
    {
        var source = Datagrams(capture);
        return Enumerable.Range(0, count).Select(i => source[i % source.Length]).ToArray();
    }
}
