using Flowline.Records;

namespace Flowline.Realtime;

public sealed class RealtimeOptions
{
    /// <summary>Flows one definition holds at once; new flows beyond are counted as dropped.</summary>
    public int MaxKeys { get; set; } = 1_000_000;
    /// <summary>Flows all definitions hold together; new flows beyond are counted as dropped by the definition that met them.</summary>
    public long MaxKeysTotal { get; set; } = 4_000_000;
    /// <summary>Logged flows and events kept for the long-poll readers.</summary>
    public int JournalEntries { get; set; } = 10_000;
    /// <summary>Flow definitions at most, those the Prometheus export makes included.</summary>
    public int MaxDefinitions { get; set; } = 1_000;
    /// <summary>Definitions the Prometheus export may make (each distinct set of export.js parameters is one).</summary>
    public int MaxExports { get; set; } = 100;
    /// <summary>Thresholds at most.</summary>
    public int MaxThresholds { get; set; } = 1_000;
    /// <summary>Long-poll readers waiting at once on the flow log and on the events, each.</summary>
    public int MaxWaiters { get; set; } = 1_000;
}

/// <summary>
/// Another analysis on the decoded rows, run by the real-time thread beside the flow definitions (DDoS
/// detection): it sees every row the definitions see and is swept with them.
/// </summary>
public interface IRealtimeObserver
{
    /// <summary>Rows [<paramref name="from"/>, <paramref name="to"/>) of a batch.</summary>
    void Add(FlowBatch batch, int from, int to);
    /// <summary>Called at least once a second with now in µs since the epoch.</summary>
    void Tick(long now);
}

/// <summary>A limit of the real-time engine was reached (<see cref="RealtimeOptions"/>): the faces answer 429.</summary>
public sealed class RealtimeLimitException(string message) : Exception(message);

/// <summary>
/// The flows the definitions may hold: <see cref="PerDefinition"/> each and <see cref="Total"/> together. Anyone
/// who can send datagrams makes new flows; a thousand definitions each full would otherwise hold a billion.
/// The total is counted exactly at each sweep (once a second, which also sees definitions deleted) and by each
/// new flow between sweeps.
/// </summary>
public sealed class FlowBudget(int perDefinition, long total)
{
    private long _counted, _added, _refused;

    public int PerDefinition => perDefinition;
    public long Total => total;
    /// <summary>New flows not held because the definitions together held <see cref="Total"/>.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Takes room for one new flow; false (and counted) when there is none.</summary>
    internal bool TryTake()
    {
        if (Volatile.Read(ref _counted) + Interlocked.Read(ref _added) >= total)
        {
            Interlocked.Increment(ref _refused);
            return false;
        }
        Interlocked.Increment(ref _added);
        return true;
    }

    /// <summary>At a sweep, on the thread that adds rows: the flows the definitions hold now.</summary>
    internal void Recount(long held)
    {
        Volatile.Write(ref _counted, held);
        Interlocked.Exchange(ref _added, 0);
    }
}
