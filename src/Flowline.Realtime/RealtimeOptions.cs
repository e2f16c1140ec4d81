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
/// new flow between sweeps. While the definitions want more than the total, each may hold at most its
/// <see cref="Share"/>: a definition made while the others fill the total gets room too, not only what idle
/// flows leave.
/// </summary>
public sealed class FlowBudget(int perDefinition, long total)
{
    private long _counted, _added, _refused, _trimmed, _share = long.MaxValue;

    public int PerDefinition => perDefinition;
    public long Total => total;
    /// <summary>New flows not held because the definitions together held <see cref="Total"/> or their share of it.</summary>
    public long Refused => Interlocked.Read(ref _refused);
    /// <summary>Flows removed, slowest first, from definitions holding more than their share.</summary>
    public long Trimmed => Interlocked.Read(ref _trimmed);
    /// <summary>The most flows one definition may hold while the total is contested (set at each sweep); <see cref="long.MaxValue"/> while it is not.</summary>
    public long Share => Volatile.Read(ref _share);

    /// <summary>Takes room for one new flow of a definition holding <paramref name="held"/>; false (and counted) when there is none.</summary>
    internal bool TryTake(int held)
    {
        if (held >= Volatile.Read(ref _share) || Volatile.Read(ref _counted) + Interlocked.Read(ref _added) >= total)
        {
            Interlocked.Increment(ref _refused);
            return false;
        }
        Interlocked.Increment(ref _added);
        return true;
    }

    /// <summary>At a sweep, on the thread that adds rows: the flows the definitions hold now, and each one's share.</summary>
    internal void Recount(long held, long share, long trimmed)
    {
        Volatile.Write(ref _counted, held);
        Interlocked.Exchange(ref _added, 0);
        Volatile.Write(ref _share, share);
        Interlocked.Add(ref _trimmed, trimmed);
    }

    /// <summary>
    /// The max-min fair share of <paramref name="total"/> among definitions wanting <paramref name="wanted"/>
    /// flows each (held plus refused since the last sweep): those wanting less than an equal part keep what they
    /// want, the rest share what is left equally. <see cref="long.MaxValue"/> when the total covers every want.
    /// </summary>
    public static long FairShare(long[] wanted, long total)
    {
        if (wanted.Sum() <= total) return long.MaxValue;
        var sorted = wanted.Order().ToArray();
        var left = total;
        for (var i = 0; i < sorted.Length; i++)
        {
            var level = left / (sorted.Length - i);
            if (sorted[i] > level) return level;
            left -= sorted[i];
        }
        return long.MaxValue; // not reached: the wants exceed the total
    }
}
