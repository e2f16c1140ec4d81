using Flowline.Enrichment;

namespace Flowline.Ingest;

/// <summary>
/// Keeps the enricher's inventory in step with its file: read at start (a bad file stops the start), then
/// again whenever the file's time or size changes (checked every second) and on <see cref="Reload"/>
/// (SIGHUP). A file with errors is refused whole, each error logged with its line and field, and the
/// inventory in force stays in force.
/// </summary>
public sealed class InventoryWatch : IDisposable
{
    private readonly string _path;
    private readonly Enricher _enricher;
    private readonly Microsoft.Extensions.Logging.ILogger _log;
    private readonly Timer _timer;
    private readonly object _lock = new();
    private (DateTime, long) _seen;
    private long _reloads, _failures;

    /// <exception cref="InventoryException">The file cannot be used; nothing is in force.</exception>
    public InventoryWatch(string path, Enricher enricher, Microsoft.Extensions.Logging.ILogger log)
    {
        _path = System.IO.Path.GetFullPath(path);
        _enricher = enricher;
        _log = log;
        _seen = Stamp();
        var inventory = InventoryFile.Load(_path);
        enricher.Use(inventory);
        LastLoaded = DateTime.UtcNow;
        _timer = new Timer(_ => Check(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public string Path => _path;
    public long Reloads => Interlocked.Read(ref _reloads);
    public long Failures => Interlocked.Read(ref _failures);
    public DateTime LastLoaded { get; private set; }
    /// <summary>The last refusal's message, or null when the file in force is the file on disk.</summary>
    public string? LastError { get; private set; }

    private (DateTime, long) Stamp()
    {
        try
        {
            var info = new FileInfo(_path);
            return info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
        }
        catch (IOException)
        {
            return (DateTime.MinValue, -1);
        }
    }

    /// <summary>The file's stamp when a change was first seen: it is read once the stamp has stayed the same for a poll.</summary>
    private (DateTime, long) _changing;

    private void Check()
    {
        var stamp = Stamp();
        if (stamp == _seen) return;
        // A file being written in place (an editor, `cat >`) is read only once it has settled, not half written.
        if (stamp != _changing)
        {
            _changing = stamp;
            return;
        }
        Reload("file changed");
    }

    /// <summary>Reads the file again; true when the new inventory is in force.</summary>
    public bool Reload(string why)
    {
        lock (_lock)
        {
            _seen = Stamp();
            try
            {
                var inventory = InventoryFile.Load(_path);
                _enricher.Use(inventory);
                Interlocked.Increment(ref _reloads);
                LastLoaded = DateTime.UtcNow;
                LastError = null;
                IngestLog.InventoryReloaded(_log, _path, why, Describe(inventory));
                return true;
            }
            catch (InventoryException e)
            {
                Interlocked.Increment(ref _failures);
                LastError = e.Message;
                IngestLog.InventoryRefused(_log, _path, why, e.Errors.Select(error => error.ToString()).ToList());
                return false;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                Interlocked.Increment(ref _failures);
                LastError = e.Message;
                IngestLog.InventoryNotReloaded(_log, e.Message);
                return false;
            }
        }
    }

    public static string Describe(Inventory i) =>
        $"{i.Accounts.Count} accounts, {i.Networks.Count} networks, {i.Ports.Count} ports, {i.SecurityGroups.Count} security groups";

    public void Dispose() => _timer.Dispose();
}
