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
        var dir = Directory(dataDir);
        System.IO.Directory.CreateDirectory(dir);
        AtomicFile.Write(Path.Combine(dir, $"decoder-{decoder}.json"), Serialize(cache));
    }

    /// <summary>The file a decoder's templates are saved in.</summary>
    public static string PathOf(string dataDir, int decoder) => Path.Combine(Directory(dataDir), $"decoder-{decoder}.json");

    /// <summary>A decoder's templates and exporter options as the saved document (what the file holds, and what collectors share).</summary>
    public static byte[] Serialize(TemplateCache cache)
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
        return JsonSerializer.SerializeToUtf8Bytes(exporters, Json);
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
                IngestLog.TemplatesNotRestored(log, path, e is JsonException j
                    ? $"not a template file: unreadable at line {(j.LineNumber ?? 0) + 1}{(j.Path is { Length: > 1 } at ? $", {at}" : "")}" : e.Message);
                continue;
            }
            restored += Restore(saved, cache, onlyNew: false);
        }
        return restored;
    }

    /// <summary>
    /// Adds the templates of a saved document (another collector's, shared through the store) to <paramref name="cache"/>:
    /// only scopes and templates it does not hold (what an exporter told this collector itself wins); returns how many.
    /// </summary>
    public static int Adopt(string json, TemplateCache cache)
    {
        List<SavedExporter>? saved;
        try
        {
            saved = JsonSerializer.Deserialize<List<SavedExporter>>(json, Json);
        }
        catch (JsonException)
        {
            return 0;
        }
        return Restore(saved, cache, onlyNew: true);
    }

    private static int Restore(List<SavedExporter>? saved, TemplateCache cache, bool onlyNew)
    {
        var restored = 0;
        foreach (var e in saved ?? [])
        {
            if (e?.Exporter is null || !IPAddress.TryParse(e.Exporter, out var address) || !Enum.TryParse<FlowProtocol>(e.Protocol, out var protocol)) continue;
            var key = new ExporterKey(FlowAddress.FromIPAddress(address), e.Domain, protocol);
            var known = cache.Exporters.TryGetValue(key, out var existing);
            var state = known ? existing! : cache.GetOrAdd(key);
            if (!known || !onlyNew) state.Restore(e.SamplingRate, e.SystemInitMillis);
            foreach (var t in e.Templates ?? [])
            {
                if (t?.Fields is null) continue;
                if (onlyNew && state.AllTemplates.Any(x => x.Id == t.Id)) continue;
                var fields = t.Fields.Select(f => new FieldSpec(f.Id, f.Length, f.Enterprise)).ToArray();
                if (cache.Add(state, new Template(protocol, t.Id, fields, t.ScopeFields, t.Options))) restored++;
            }
        }
        return restored;
    }
}
