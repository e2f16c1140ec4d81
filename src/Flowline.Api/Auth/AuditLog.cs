using System.Text;
using System.Text.Json;
using Flowline.Records;

namespace Flowline.Api;

/// <summary>One audited event: a read of another account's flows (granted or refused), or a key change.</summary>
public sealed record AuditEntry(DateTimeOffset Time, string Event, string KeyId, string KeyAccount, string Target, string Outcome, string Remote, string Detail);

/// <summary>
/// The audit log, <c>audit.log</c> in the data directory: one JSON object per line, appended and flushed to
/// disk before the request it records is answered.
/// </summary>
public sealed class AuditLog
{
    private readonly string _path;
    private readonly Lock _lock = new();

    public AuditLog(string dataDir)
    {
        Flowline.Records.DataDirectory.Create(dataDir);
        _path = System.IO.Path.Combine(dataDir, "audit.log");
    }

    public void Write(AuditEntry e)
    {
        using var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer, ReadableJson.Compact))
        {
            j.WriteStartObject();
            j.WriteString("time", e.Time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            j.WriteString("event", e.Event);
            j.WriteString("key", e.KeyId);
            j.WriteString("key_account", e.KeyAccount);
            j.WriteString("target", e.Target);
            j.WriteString("outcome", e.Outcome);
            j.WriteString("remote", e.Remote);
            j.WriteString("detail", e.Detail);
            j.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        lock (_lock)
        {
            using var f = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            f.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
            f.Flush(flushToDisk: true);
        }
    }

    /// <summary>The entries, oldest first, at most the last <paramref name="limit"/>.</summary>
    public IReadOnlyList<string> Tail(int limit)
    {
        lock (_lock)
        {
            if (!File.Exists(_path)) return [];
            var lines = File.ReadAllLines(_path, Encoding.UTF8);
            return lines.Length <= limit ? lines : lines[^limit..];
        }
    }
}
