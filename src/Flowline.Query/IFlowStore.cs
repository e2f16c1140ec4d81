using Flowline.Records;

namespace Flowline.Query;

/// <summary>What a store holds, for `flowline store stats`.</summary>
public sealed record StoreStats(int Partitions, int Segments, long Rows, long BytesOnDisk, long? FirstStart, long? LastStart, int Quarantined)
{
    /// <summary>Segments that could not be read (their rows and bytes are not in the figures): `store verify` moves them to quarantine.</summary>
    public IReadOnlyList<string> Unreadable { get; init; } = [];
}

/// <summary>A figure an engine reports in /metrics: its name, help text, Prometheus type and value.</summary>
public sealed record StoreMetric(string Name, string Help, string Type, double Value);

/// <summary>
/// What `verify` found: the file, the block (-1 for the whole file), what is wrong and what was done about it (a
/// damaged segment is moved to quarantine, a damaged rollup rebuilt from the flows it sums); not
/// <paramref name="Damaged"/> when the file was whole and only rewritten (a rollup of an older format).
/// </summary>
public sealed record StoreProblem(string Path, int Block, string Reason, string Outcome = "quarantined", bool Damaged = true)
{
    /// <summary>The reason of a segment an earlier read had quarantined, whose readable blocks verify restored.</summary>
    public const string QuarantinedBefore = "in quarantine since an earlier read found it damaged";
}

/// <summary>
/// Small state the collectors writing one store share (NetFlow v9 / IPFIX templates, exporter options): the
/// newest value of each key. A store that is one collector's own has none.
/// </summary>
public interface ISharedState
{
    /// <summary>Writes <paramref name="value"/> under <paramref name="key"/>, newer than what it replaces.</summary>
    void Put(string key, string value);

    /// <summary>The newest value of each key that starts with <paramref name="prefix"/>, with its version (later writes, larger versions).</summary>
    IReadOnlyList<(string Key, long Version, string Value)> Read(string prefix);
}

/// <summary>
/// A flow store: the contract between the faces (CLI, /api/v1, DescribeFlowLog, Contrail) and the engines
/// in Flowline.Storage (the embedded segment store, later ClickHouse), which run the same conformance tests.
/// </summary>
public interface IFlowStore : IDisposable
{
    /// <summary>Appends records; they become durable within the store's group-commit window, or at <see cref="Flush"/>.</summary>
    void Append(FlowBatch batch);

    /// <summary>
    /// Appends the rows of <paramref name="batch"/> and returns an empty batch for the caller to fill next: the
    /// same one cleared, or (when the store keeps the batch itself rather than copying it) another. When it
    /// throws, nothing was appended and the batch still holds its rows.
    /// </summary>
    FlowBatch Hand(FlowBatch batch)
    {
        Append(batch);
        batch.Clear();
        return batch;
    }

    /// <summary>The names behind the enrichment columns' ids (accounts, networks, ports, rules, tags).</summary>
    ISymbolTable Symbols { get; }

    /// <summary>Makes everything appended so far durable.</summary>
    void Flush();

    /// <summary>
    /// The stored records whose start lies in [from, to) and that may match <paramref name="filter"/>
    /// (blocks the filter rules out are skipped; callers still evaluate the filter on what comes back).
    /// Each batch is valid until the next one is requested. With <paramref name="columns"/>, only those
    /// columns (plus start) are filled; the others read as zero.
    /// </summary>
    IEnumerable<FlowBatch> Scan(long from, long to, FilterNode filter, IReadOnlySet<FlowField>? columns = null);

    /// <summary>The records of [from, to) that match <paramref name="filter"/>, at most <paramref name="limit"/> (0: all); with <paramref name="columns"/>, only those are read.</summary>
    IEnumerable<FlowRecord> Rows(long from, long to, FilterNode filter, IReadOnlySet<FlowField>? columns = null, long limit = 0);

    /// <summary>The grouped, ordered and cut answer of <paramref name="query"/> over [from, to).</summary>
    Aggregator.AggregateResult Aggregate(long from, long to, FlowQuery query);

    StoreStats Stats();

    /// <summary>
    /// Drops the rows appended but not yet durable and returns how many: what a failed final <see cref="Flush"/>
    /// loses. None of them is written afterwards, so the count a collector reports lost is exactly what the
    /// store does not hold (a background commit retrying later could otherwise still write some).
    /// </summary>
    long DiscardUnflushed() => 0;

    /// <summary>Work the engine does ahead of the first burst (its write buffers made resident); run in the background at start.</summary>
    void Prepare()
    {
    }

    /// <summary>
    /// One step of background upkeep (compaction, rollups) of data quiet for <paramref name="quietFor"/>;
    /// true when it did something and more may be due (call again), false when nothing is.
    /// </summary>
    /// <param name="log">Told of each partition finished (merged into its final form).</param>
    bool Maintain(TimeSpan quietFor, CancellationToken cancel, Action<string>? log = null) => false;

    /// <summary>The engine's own counters and gauges for /metrics (compaction, retention).</summary>
    IReadOnlyList<StoreMetric> Metrics => [];

    /// <summary>State shared with the other collectors of this store (a ClickHouse cluster); null when the store is this collector's alone.</summary>
    ISharedState? Shared => null;

    /// <summary>Drops whole partitions that end before <paramref name="before"/>; returns how many.</summary>
    int Expire(long before);

    /// <summary>Of the partitions <see cref="Expire"/> dropped, those written to since the pass before: flows that arrived already expired.</summary>
    long ExpiredOnArrival => 0;

    /// <summary>Reads every block and checks it; corrupt segments are moved to quarantine and reported.</summary>
    IReadOnlyList<StoreProblem> Verify();
}
