using System.Collections.Concurrent;
using System.Text;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// Templates and exporter options shared with the other collectors of the same store (a ClickHouse cluster):
/// each collector publishes what its decoders saved, under its own id, and adopts what the others published, so
/// that a datagram an exporter sends to another collector (a load balancer, a failover) decodes at once. The
/// store is read and written on the upkeep thread; each decoder adopts the documents on its own thread.
/// </summary>
public sealed partial class Collector
{
    /// <summary>How often templates are published and the others' looked for.</summary>
    public static readonly TimeSpan ShareInterval = TimeSpan.FromSeconds(2);

    private const string SharedPrefix = "templates/";
    private string? _collectorId;
    private readonly Dictionary<int, string> _published = [];
    private readonly Dictionary<string, long> _adoptedVersions = new(StringComparer.Ordinal);
    private long _templatesAdopted;

    /// <summary>Templates taken from other collectors of the store.</summary>
    public long TemplatesAdopted => Interlocked.Read(ref _templatesAdopted);

    /// <summary>This collector's id among those of its store: made once, kept in DATA_DIR/collector-id.</summary>
    private string CollectorId()
    {
        if (_collectorId is not null) return _collectorId;
        var path = Path.Combine(Options.DataDir, "collector-id");
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: 32 } saved && saved.All(char.IsAsciiHexDigit)) return _collectorId = saved;
        var id = Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(Options.DataDir);
        AtomicFile.Write(path, Encoding.ASCII.GetBytes(id + "\n"));
        return _collectorId = id;
    }

    /// <summary>Publishes the decoders' saved templates that changed, and hands the other collectors' new ones to every decoder.</summary>
    internal void ShareTemplates()
    {
        if (Store.Shared is not { } shared) return;
        var log = Logs.CreateLogger("templates");
        try
        {
            var id = CollectorId();
            foreach (var p in _pipelines)
            {
                var path = TemplateFiles.PathOf(Options.DataDir, p.Index);
                if (!File.Exists(path)) continue;
                var text = File.ReadAllText(path);
                if (_published.TryGetValue(p.Index, out var last) && last == text) continue;
                shared.Put($"{SharedPrefix}{id}/{p.Index}", text);
                _published[p.Index] = text;
            }
            var adopted = 0;
            var from = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (key, version, value) in shared.Read(SharedPrefix))
            {
                if (key.StartsWith($"{SharedPrefix}{id}/", StringComparison.Ordinal)) continue;
                if (_adoptedVersions.TryGetValue(key, out var seen) && seen >= version) continue;
                _adoptedVersions[key] = version;
                foreach (var p in _pipelines) p.ShareTemplates(value);
                adopted++;
                from.Add(key.Split('/')[1]);
            }
            if (adopted > 0) IngestLog.TemplatesAdopted(log, adopted, from.Count);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            IngestLog.TemplatesNotShared(log, e.Message);
        }
    }

    /// <summary>
    /// On a decoder's thread: adds the templates other collectors published to its cache, then decodes the data
    /// sets that waited for them (they arrived here before their template was shared).
    /// </summary>
    internal void AdoptSharedTemplates(Pipeline p, ref CollectorSink sink)
    {
        var adopted = 0;
        while (p.SharedTemplates.TryDequeue(out var json)) adopted += TemplateFiles.Adopt(json, p.Decoder.Templates);
        if (adopted == 0) return;
        Interlocked.Add(ref _templatesAdopted, adopted);
        foreach (var key in p.Decoder.ScopesWithHeldSets())
        {
            sink.BeginDatagram();
            var before = sink.Records;
            p.Decoder.DecodeHeld(key, ref sink);
            sink.Current?.AddRecords(sink.Records - before);
        }
    }
}
