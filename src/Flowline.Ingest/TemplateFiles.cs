using System.Net;
using System.Text.Json;
using Flowline.Wire.Ipfix;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// NetFlow v9 / IPFIX templates and exporter options (sampling rate, boot time) saved in the data
/// directory, so that data arriving right after a restart decodes at once instead of waiting for the
/// exporter's next template refresh. Each decoding thread saves its own file; at start every file is
/// loaded into every decoder (an exporter may land on another socket after a restart).
/// </summary>
internal static class TemplateFiles
{
    private sealed record SavedField(ushort Id, ushort Length, uint Enterprise);

    private sealed record SavedTemplate(ushort Id, bool Options, int ScopeFields, SavedField[] Fields);

    private sealed record SavedExporter(string Exporter, uint Domain, string Protocol, uint SamplingRate, long SystemInitMillis, SavedTemplate[] Templates);

    public static string Directory(string dataDir) => Path.Combine(dataDir, "templates");

    public static void Save(string dataDir, int decoder, TemplateCache cache)
    {
        var exporters = new List<SavedExporter>();
        foreach (var (key, state) in cache.Exporters)
        {
            // Scopes that never decoded data are not kept across a restart: anyone can make them up by the thousand,
            // and a real exporter announces its templates again before long.
            if (!state.DecodedData) continue;
            var templates = state.AllTemplates
                .Select(t => new SavedTemplate(t.Id, t.IsOptions, t.ScopeFieldCount, t.Fields.Select(f => new SavedField(f.Id, f.Length, f.Enterprise)).ToArray()))
                .ToArray();
            if (templates.Length == 0 && state.SamplingRate == 0) continue;
            exporters.Add(new SavedExporter(key.Exporter.ToString(), key.Domain, key.Protocol.ToString(), state.SamplingRate, state.SystemInitMillis, templates));
        }
        var dir = Directory(dataDir);
        System.IO.Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"decoder-{decoder}.json");
        AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(exporters, Json));
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Loads every saved file into <paramref name="cache"/>; returns the templates restored. Damaged files are skipped and reported.</summary>
    public static int Load(string dataDir, TemplateCache cache, Microsoft.Extensions.Logging.ILogger log)
    {
        var dir = Directory(dataDir);
        if (!System.IO.Directory.Exists(dir)) return 0;
        var restored = 0;
        foreach (var path in System.IO.Directory.EnumerateFiles(dir, "decoder-*.json").Order(StringComparer.Ordinal))
        {
            List<SavedExporter>? saved;
            try
            {
                using var file = File.OpenRead(path);
                saved = JsonSerializer.Deserialize<List<SavedExporter>>(file, Json);
            }
            catch (Exception e) when (e is JsonException or IOException)
            {
                IngestLog.TemplatesNotRestored(log, path, e.Message);
                continue;
            }
            foreach (var e in saved ?? [])
            {
                if (!IPAddress.TryParse(e.Exporter, out var address) || !Enum.TryParse<FlowProtocol>(e.Protocol, out var protocol)) continue;
                var state = cache.GetOrAdd(new ExporterKey(FlowAddress.FromIPAddress(address), e.Domain, protocol));
                state.Restore(e.SamplingRate, e.SystemInitMillis);
                foreach (var t in e.Templates ?? [])
                {
                    var fields = t.Fields.Select(f => new FieldSpec(f.Id, f.Length, f.Enterprise)).ToArray();
                    if (cache.Add(state, new Template(protocol, t.Id, fields, t.ScopeFields, t.Options))) restored++;
                }
            }
        }
        return restored;
    }
}
