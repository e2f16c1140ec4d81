using System.Diagnostics;
using Flowline.Records;

namespace Flowline.Realtime;

/// <summary>
/// Runs the flow definitions on a thread of their own, so that the decoders never wait for them: a
/// decoder copies its new rows into a staging batch (<see cref="Offer"/>, a few hundred rows at a time),
/// and the analytics thread takes everything staged in one swap, counts it into every definition, and
/// runs the once-a-second sweep between swaps (so a sweep over a million flows holds up analytics only).
/// The staging batch is bounded: when analytics falls that far behind, rows offered are counted as
/// <see cref="Dropped"/> and the datagrams themselves are still decoded and stored.
/// </summary>
public sealed class RealtimeFeed : IDisposable
{
    /// <summary>Rows staged at most (about a fifth of a second at 300,000 rows/s).</summary>
    public const int DefaultMaxStaged = 65_536;

    private readonly RealtimeEngine _engine;
    private readonly Func<long> _clock;
    private readonly int _maxStaged;
    private readonly Lock _lock = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Thread _thread;
    private FlowBatch _filling = new(4096);
    private FlowBatch _draining = new(4096);
    private volatile bool _stopping;
    private int _parked;
    private long _dropped, _offered;

    /// <param name="clock">Now, in µs since the epoch (the sweep's clock).</param>
    public RealtimeFeed(RealtimeEngine engine, Func<long> clock, int maxStaged = DefaultMaxStaged)
    {
        _engine = engine;
        _clock = clock;
        _maxStaged = maxStaged;
        _thread = new Thread(Run) { IsBackground = true, Name = "flowline-realtime" };
        _thread.Start();
    }

    /// <summary>Rows refused because the staging batch was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Rows taken for analysis.</summary>
    public long Offered => Interlocked.Read(ref _offered);

    /// <summary>Stages rows [<paramref name="from"/>, <paramref name="to"/>) of a batch for every definition.</summary>
    public void Offer(FlowBatch batch, int from, int to)
    {
        var n = to - from;
        if (n <= 0) return;
        lock (_lock)
        {
            if (_filling.Count + n > _maxStaged)
            {
                _dropped += n;
                return;
            }
            _filling.AppendRange(batch, from, n);
            _offered += n;
        }
        if (Volatile.Read(ref _parked) == 1) _wake.Set();
    }

    private void Run()
    {
        var lastTick = Stopwatch.GetTimestamp();
        while (true)
        {
            lock (_lock) (_filling, _draining) = (_draining, _filling);
            var rows = _draining.Count;
            if (rows > 0)
            {
                _engine.Add(_draining, 0, rows);
                _draining.Clear();
            }
            if (Stopwatch.GetElapsedTime(lastTick) >= TimeSpan.FromSeconds(1))
            {
                _engine.Tick(_clock());
                lastTick = Stopwatch.GetTimestamp();
            }
            if (rows > 0) continue;
            if (_stopping) return;
            // Nothing staged: sleep until a decoder offers rows, or the next sweep is due.
            _wake.Reset();
            Volatile.Write(ref _parked, 1);
            bool empty;
            lock (_lock) empty = _filling.Count == 0;
            if (empty && !_stopping) _wake.Wait(TimeSpan.FromMilliseconds(250));
            Volatile.Write(ref _parked, 0);
        }
    }

    /// <summary>Analyses what is staged, then stops the thread.</summary>
    public void Dispose()
    {
        _stopping = true;
        _wake.Set();
        _thread.Join();
    }
}
