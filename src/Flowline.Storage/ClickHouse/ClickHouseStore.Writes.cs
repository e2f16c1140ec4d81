using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using Flowline.Query;
using Flowline.Records;

namespace Flowline.Storage.ClickHouse;

/// <summary>
/// Appends: rows buffered per day partition and inserted in large Native blocks, each block into one shard's
/// local table as one part (all or nothing) and tagged with a random batch id. An insert ClickHouse does not
/// take (a shard down, a refusal, no answer) goes to the spool on disk instead and the flush succeeds: the
/// rows are acknowledged. The spool is replayed in order per shard; before a spooled block is inserted its
/// batch id is looked up on its shard, so a block that did land before the failure is never inserted twice.
/// </summary>
public sealed partial class ClickHouseStore
{
    /// <summary>ClickHouse splits larger inserts into several parts, which would no longer be all or nothing.</summary>
    public const int MaxInsertRows = 1_000_000;

    private readonly object _lock = new();
    private readonly object _commitLock = new();
    private readonly Dictionary<int, FlowBatch> _buffers = [];
    /// <summary>Buffers inserted and cleared, kept for the next rows (their columns are hundreds of megabytes at full rate).</summary>
    private readonly Stack<FlowBatch> _spare = new();
    /// <summary>The Native body of the insert being sent (under the commit lock), kept grown.</summary>
    private readonly ArrayBufferWriter<byte> _body = new(1 << 20);
    private int _buffered;
    private int _nextShard;
    private bool _disposed;
    private Thread? _committer, _replayer;
    /// <summary>One replay at a time (the replaying thread, <see cref="Maintain"/>); commits go on meanwhile.</summary>
    private readonly object _replayLock = new();
    /// <summary>Per shard: blocks and rows spooled since it last took everything (for the recovery's report).</summary>
    private (int Blocks, long Rows)[] _sinceFailing = [];
    private ClickHouseSpool? _spool;
    private Exception? _commitError;
    private long _insertedRows, _insertedBlocks, _insertErrors, _spooledBlocks, _spooledRows, _replayedBlocks, _replaySkipped;

    private void StartWriting()
    {
        _sinceFailing = new (int, long)[_shards.Length];
        _answeringSince = [.. Enumerable.Repeat(long.MinValue, _shards.Length)];
        if (_options.SpoolDirectory is { } directory) _spool = new ClickHouseSpool(directory, _shards.Length);
        // Blocks spooled by a process that ended (a crash, a kill) may have been given to a server that took them late:
        // their shards are replayed to as to one that failed, once they have answered for an insert timeout.
        for (var shard = 0; shard < _shards.Length; shard++)
        {
            if (_spool?.Pending(shard) == true) _answeringSince[shard] = 0;
        }
        _committer = new Thread(CommitLoop) { IsBackground = true, Name = "clickhouse commit" };
        _committer.Start();
        if (_spool is null) return;
        // Replays run beside the commits: a shard that does not answer holds its replay, never the others' inserts.
        _replayer = new Thread(ReplayLoop) { IsBackground = true, Name = "clickhouse replay" };
        _replayer.Start();
    }

    /// <summary>Rows appended and not yet inserted or spooled.</summary>
    public int BufferedRows
    {
        get { lock (_lock) return _buffered; }
    }

    /// <summary>Blocks waiting in the spool for their shard.</summary>
    public int SpooledBlocks => _spool?.Count ?? 0;

    public void Append(FlowBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_options.ReadOnly) throw new InvalidOperationException("the store was opened read-only");
        if (!batch.IsZeroColumn(FlowField.SessionFlags))
        {
            for (var i = 0; i < batch.Count; i++)
            {
                if (batch.SessionFlags[i] != 0) throw new ArgumentException("the ClickHouse store keeps flow records; session rows stay in the sessions store", nameof(batch));
            }
        }
        lock (_lock)
        {
            while (_buffered >= 4 * _options.MaxBufferedRows && !_disposed)
            {
                if (_commitError is { } failing) throw new IOException($"inserts are failing: {failing.Message}", failing);
                Monitor.Wait(_lock, 100);
            }
            var rows = batch.Count;
            var at = 0;
            var starts = batch.Start;
            while (at < rows)
            {
                // Rows come in time order, mostly of one day: a run ends at the first row outside its day.
                var day = ClickHouseSchema.PartitionOf(starts[at]);
                var (from, to) = ClickHouseSchema.PartitionRange(day);
                var end = at + 1;
                while (end < rows && starts[end] >= from && starts[end] < to) end++;
                if (!_buffers.TryGetValue(day, out var buffer))
                {
                    _buffers[day] = buffer = _spare.Count > 0 ? _spare.Pop() : new FlowBatch(Math.Min(_options.MaxBufferedRows, 1 << 16));
                }
                buffer.AppendRange(batch, at, end - at);
                at = end;
            }
            _buffered += rows;
            if (_buffered >= _options.MaxBufferedRows) Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Inserts (or spools) everything appended so far; throws when neither is possible.</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Commit();
    }

    public long DiscardUnflushed()
    {
        lock (_lock)
        {
            var n = _buffered;
            _buffers.Clear();
            _buffered = 0;
            Monitor.PulseAll(_lock);
            return n;
        }
    }

    private void Commit()
    {
        lock (_commitLock)
        {
            List<(int Day, FlowBatch Rows)> taken;
            lock (_lock)
            {
                if (_buffered == 0) return;
                taken = [.. _buffers.Select(kv => (kv.Key, kv.Value))];
                _buffers.Clear();
                _buffered = 0;
                Monitor.PulseAll(_lock);
            }
            for (var i = 0; i < taken.Count; i++)
            {
                var (day, rows) = taken[i];
                try
                {
                    for (var at = 0; at < rows.Count; at += MaxInsertRows)
                    {
                        Insert(day, rows, at, Math.Min(MaxInsertRows, rows.Count - at));
                    }
                    rows.Clear();
                    lock (_lock)
                    {
                        if (_spare.Count < 4) _spare.Push(rows);
                    }
                }
                catch (ClickHouseException e)
                {
                    // No spool: the rows go back to the buffers for the next flush, and the caller hears why.
                    // (Rows of a day partly inserted are not cut: a day of more than a million rows is inserted in
                    // pieces only without a spool, where a failure leaves the caller to decide.)
                    lock (_lock)
                    {
                        foreach (var (d, r) in taken.Skip(i))
                        {
                            if (!_buffers.TryGetValue(d, out var buffer)) _buffers[d] = buffer = new FlowBatch(r.Count);
                            buffer.AppendRange(r, 0, r.Count);
                            _buffered += r.Count;
                        }
                        _commitError = e;
                    }
                    throw new IOException($"ClickHouse did not take the rows: {e.Message}", e);
                }
            }
            _commitError = null;
        }
    }

    /// <summary>Inserts one block into its shard, or spools it; throws only when it can do neither.</summary>
    private void Insert(int day, FlowBatch rows, int start, int count)
    {
        // A random id (never 0), unique among every collector's blocks; the shards take blocks in turn.
        var id = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) | 1;
        var shard = NextShard();
        var columns = ClickHouseSchema.Columns.Where(c => !rows.IsZeroColumn(c.Field)).ToList();
        _body.ResetWrittenCount();
        NativeFormat.WriteBlock(_body, rows, start, count, columns, id);
        var block = new ClickHouseSpool.Block(id, shard, day, count, InsertStatement(columns), _body.WrittenMemory);
        if (_spool is { } spool && spool.Pending(shard))
        {
            // Older blocks of this shard wait: this one waits behind them (the replay keeps the order).
            Spool(spool, block);
            return;
        }
        try
        {
            _shards[shard].Insert(block.Statement, block.Body, "query_id=" + id.ToString(CultureInfo.InvariantCulture));
            Interlocked.Add(ref _insertedRows, count);
            Interlocked.Increment(ref _insertedBlocks);
        }
        catch (ClickHouseException e) when (_spool is not null)
        {
            Interlocked.Increment(ref _insertErrors);
            Unanswered(shard);
            Spool(_spool, block);
            // The shard had taken everything until now: it starts failing (told once, until its spool is replayed).
            if (_spool.Waiting(shard) == 1) _options.ShardFailing?.Invoke(_shards[shard].Url.Authority, e.Message);
        }
        catch (ClickHouseException)
        {
            Interlocked.Increment(ref _insertErrors);
            throw;
        }
    }

    /// <summary>The shards take blocks in turn, those with blocks waiting in the spool left out while another one has none.</summary>
    private int NextShard()
    {
        for (var tried = 0; tried < _shards.Length; tried++)
        {
            var shard = (int)((uint)_nextShard++ % (uint)_shards.Length);
            if (_spool is not { } spool || !spool.Pending(shard)) return shard;
        }
        return (int)((uint)_nextShard++ % (uint)_shards.Length);
    }

    private void Spool(ClickHouseSpool spool, ClickHouseSpool.Block block)
    {
        lock (_sinceFailing) _sinceFailing[block.Shard] = (_sinceFailing[block.Shard].Blocks + 1, _sinceFailing[block.Shard].Rows + block.Rows);
        spool.Add(block);
        Interlocked.Increment(ref _spooledBlocks);
        Interlocked.Add(ref _spooledRows, block.Rows);
    }

    private static string InsertStatement(List<ClickHouseSchema.Column> columns) =>
        $"INSERT INTO {ClickHouseClient.Identifier(ClickHouseSchema.LocalTable)} ({ClickHouseSql.List(columns.Select(c => c.Name).Append(ClickHouseSchema.BatchColumn))}) FORMAT Native";

    /// <summary>
    /// Replays spooled blocks, oldest first per shard, until a shard refuses again; returns how many went in
    /// (or were found already there).
    /// </summary>
    public int ReplaySpool()
    {
        if (_spool is not { } spool) return 0;
        var done = 0;
        lock (_replayLock)
        {
            for (var shard = 0; shard < _shards.Length; shard++)
            {
                while (spool.Oldest(shard) is { } block)
                {
                    var client = _shards[shard];
                    try
                    {
                        var (from, to) = ClickHouseSchema.PartitionRange(block.Day);
                        var id = block.Id.ToString(CultureInfo.InvariantCulture);
                        var present = long.Parse(client.Execute(
                            $"SELECT count() FROM {ClickHouseClient.Identifier(ClickHouseSchema.LocalTable)} WHERE `start` >= {from.ToString(CultureInfo.InvariantCulture)} " +
                            $"AND `start` < {to.ToString(CultureInfo.InvariantCulture)} AND {ClickHouseClient.Identifier(ClickHouseSchema.BatchColumn)} = {id}").Trim(),
                            CultureInfo.InvariantCulture);
                        Answered(shard);
                        if (present == 0)
                        {
                            // An insert given up on a server that did not answer may still be in it, taken when it
                            // wakes: the block is inserted again only once the shard has answered for a whole
                            // insert timeout and no query of its id runs (and under that id, which ClickHouse
                            // refuses to run twice at once).
                            if (!Settled(shard)) break;
                            if (client.Execute($"SELECT count() FROM system.processes WHERE query_id = {ClickHouseClient.Quote(id)}").Trim() != "0") break;
                            client.Insert(block.Statement, block.Body, "query_id=" + id);
                            Interlocked.Add(ref _insertedRows, block.Rows);
                            Interlocked.Increment(ref _insertedBlocks);
                        }
                        else
                        {
                            Interlocked.Increment(ref _replaySkipped);
                        }
                    }
                    catch (ClickHouseException)
                    {
                        Interlocked.Increment(ref _insertErrors);
                        Unanswered(shard);
                        break;
                    }
                    spool.Remove(block);
                    Interlocked.Increment(ref _replayedBlocks);
                    done++;
                    if (!spool.Pending(shard))
                    {
                        (int Blocks, long Rows) since;
                        lock (_sinceFailing)
                        {
                            since = _sinceFailing[shard];
                            _sinceFailing[shard] = default;
                        }
                        _options.ShardRecovered?.Invoke(client.Url.Authority, since.Blocks, since.Rows);
                    }
                }
            }
        }
        return done;
    }

    /// <summary>
    /// Per shard: since when it answers again after failing (<see cref="Environment.TickCount64"/>, ms),
    /// 0 while it fails, <see cref="long.MinValue"/> when it has not failed in this process.
    /// </summary>
    private long[] _answeringSince = [];

    private void Unanswered(int shard) => Volatile.Write(ref _answeringSince[shard], 0);

    private void Answered(int shard) => Interlocked.CompareExchange(ref _answeringSince[shard], Math.Max(1, Environment.TickCount64), 0);

    private bool Settled(int shard)
    {
        var since = Volatile.Read(ref _answeringSince[shard]);
        return since == long.MinValue || (since > 0 && Environment.TickCount64 - since >= (long)_options.InsertTimeout.TotalMilliseconds);
    }

    /// <summary>Once a second while the spool holds blocks: replays them.</summary>
    private void ReplayLoop()
    {
        while (true)
        {
            lock (_lock)
            {
                if (_disposed) return;
                Monitor.Wait(_lock, 1000);
                if (_disposed) return;
            }
            try
            {
                if (_spool is { Count: > 0 }) ReplaySpool();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
            {
                // A spool file unreadable now, or the store closing: the next round tries again (or ends).
            }
        }
    }

    private void CommitLoop()
    {
        while (true)
        {
            lock (_lock)
            {
                if (_disposed) return;
                if (_buffered < _options.MaxBufferedRows) Monitor.Wait(_lock, _options.GroupCommit);
                if (_disposed) return;
            }
            try
            {
                Commit();
            }
            catch (IOException)
            {
                // Told to the next Append that has to wait, and to Flush; the rows are still buffered.
                Thread.Sleep(200);
            }
        }
    }

    public bool Maintain(TimeSpan quietFor, CancellationToken cancel, Action<string>? log = null) =>
        _spool is { Count: > 0 } && ReplaySpool() > 0 && _spool.Count > 0;

    public IReadOnlyList<StoreMetric> Metrics =>
    [
        new("flowline_clickhouse_inserted_rows_total", "Rows inserted into ClickHouse (directly or from the spool).", "counter", Interlocked.Read(ref _insertedRows)),
        new("flowline_clickhouse_inserted_blocks_total", "Blocks inserted into ClickHouse.", "counter", Interlocked.Read(ref _insertedBlocks)),
        new("flowline_clickhouse_insert_errors_total", "Inserts ClickHouse did not take (each is spooled or retried).", "counter", Interlocked.Read(ref _insertErrors)),
        new("flowline_clickhouse_spooled_blocks_total", "Blocks written to the local spool.", "counter", Interlocked.Read(ref _spooledBlocks)),
        new("flowline_clickhouse_spooled_rows_total", "Rows written to the local spool.", "counter", Interlocked.Read(ref _spooledRows)),
        new("flowline_clickhouse_spool_blocks", "Blocks waiting in the spool.", "gauge", _spool?.Count ?? 0),
        new("flowline_clickhouse_spool_damaged_total", "Spooled blocks found damaged on disk (moved to clickhouse-spool/bad/, not replayed).", "counter", _spool?.Damaged ?? 0),
        new("flowline_clickhouse_replayed_blocks_total", "Spooled blocks replayed.", "counter", Interlocked.Read(ref _replayedBlocks)),
        new("flowline_clickhouse_replay_already_present_total", "Spooled blocks found already in ClickHouse when replayed (not inserted again).", "counter", Interlocked.Read(ref _replaySkipped)),
        new("flowline_clickhouse_rollup_queries_total", "Aggregations answered from a per-minute or per-hour rollup table instead of the flows.", "counter", RollupQueries),
        new("flowline_clickhouse_buffered_rows", "Rows appended and not yet inserted or spooled.", "gauge", BufferedRows),
    ];

    public void Dispose()
    {
        if (_disposed) return;
        try
        {
            if (!_options.ReadOnly) Commit();
        }
        finally
        {
            lock (_lock)
            {
                _disposed = true;
                Monitor.PulseAll(_lock);
            }
            _committer?.Join();
            _replayer?.Join();
            _reader.Dispose();
            foreach (var s in _shards) s.Dispose();
        }
    }
}
