namespace Flowline.Ingest;

/// <summary>The sessionizers' input sampling: set at every flush from the interval's rate of new sessions, raised between flushes by a flood.</summary>
public sealed partial class SessionService
{
    private double _rateSessions, _rateSeconds;
    private readonly Lock _samplingLock = new();
    private int _slices;
    /// <summary>When the flood check last looked, and the new sessions by then.</summary>
    private long _checkedAt, _checkedSessions;

    /// <summary>The least input sampling a flush may set: doubled when a decoder falls behind its socket, halved after each <see cref="FloorHold"/> without a rise.</summary>
    private int _floor = 1;
    /// <summary>When the floor last moved, and when a backlog last raised it.</summary>
    private long _floorAt, _raisedAt;
    /// <summary>The queue's fill at the last rise (0 once the queue has drained below half of <see cref="Behind"/>).</summary>
    private double _fillAtRaise;
    private long _backlogRaises;

    /// <summary>A decoder whose socket queue is this full is behind: the sessions shed load.</summary>
    public const double Behind = 0.25;
    /// <summary>How much fuller than at the last rise the queue has to be to rise again at once.</summary>
    private const double Step = 0.125;
    /// <summary>How long (µs) a rise has to show before the next: a queue still growing this much later rises again.</summary>
    private const long RaiseSpacing = 500_000;
    /// <summary>The backlog raises the input sampling to at most this many times what the rate of new sessions asks for.</summary>
    private const int MostAboveRate = 4;
    /// <summary>The input sampling the rate of new sessions asked for last (at a flush or a flood).</summary>
    private int _rateSampling = 1;
    /// <summary>How long (µs) the floor holds before it halves.</summary>
    private const long FloorHold = 5_000_000;

    /// <summary>Rises of the input sampling because a decoder fell behind its socket queue.</summary>
    public long BacklogRaises => Interlocked.Read(ref _backlogRaises);

    /// <summary>The least input sampling in force (1 unless a decoder fell behind within the last <see cref="FloorHold"/>s).</summary>
    public int InputSamplingFloor => Volatile.Read(ref _floor);

    /// <summary>The sessionizers' input sampling now (1: every session held).</summary>
    public int InputSampling { get; private set; } = 1;

    /// <summary>Records of sessions the input sampling left out.</summary>
    public long RecordsSampledOut => _sessionizers.Sum(s => { lock (s) return s.SampledOut; });

    /// <summary>
    /// Sets the input sampling for the next interval from the rate of new sessions in this one (those held,
    /// times the sampling they were held at): the least power of two that brings it under session_input_rate.
    /// </summary>
    private void AdaptInputSampling(double seconds)
    {
        if (_inputRate <= 0) return;
        var now = _clock();
        lock (_samplingLock)
        {
            if (_floor > 1 && now - _floorAt >= FloorHold) (_floor, _floorAt) = (_floor / 2, now);
        }
        long added = 0;
        foreach (var s in _sessionizers)
        {
            lock (s) added += s.NewSessionsLastInterval;
        }
        // Over a second at least (a flush a table asked for early may end an interval of a few milliseconds),
        // unless a second's budget came sooner: a flood is met at the first early flush, not a second later.
        _rateSessions += added;
        _rateSeconds += seconds;
        if (_rateSeconds < 1 && _rateSessions <= _inputRate) return;
        var rate = _rateSessions / _rateSeconds;
        (_rateSessions, _rateSeconds) = (0, 0);
        _rateSampling = Sampling(rate);
        SetInputSampling(Math.Max(InputSamplingFloor, _rateSampling), rate);
    }

    /// <summary>
    /// Load shedding by the decoder's own backlog, whatever its cause (sessions, enrichment, compaction or
    /// another process taking the CPU): when its socket queue is a quarter full (<see cref="Behind"/>) the
    /// input sampling doubles at once; again at every further eighth of the queue, and half a second after a
    /// rise while the queue is still growing, to at most four times what the rate of new sessions asks for
    /// (sessions are not always what holds the decoder back). The raised sampling is a floor under what the
    /// flushes set from the rate of new sessions; it halves after every five seconds without a rise, back to 1.
    /// </summary>
    /// <param name="fill">How full the decoder's socket queue is, 0 to 1.</param>
    private void ShedOnBacklog(double fill)
    {
        if (_inputRate <= 0) return;
        if (fill < Behind)
        {
            if (fill < Behind / 2 && _fillAtRaise != 0) lock (_samplingLock) _fillAtRaise = 0;
            return;
        }
        var now = _clock();
        int next;
        lock (_samplingLock)
        {
            // An eighth of the queue more since the last rise rises at once; a queue still growing, half a second later.
            var since = now - _raisedAt;
            if (fill < _fillAtRaise + Step && (fill <= _fillAtRaise || since < RaiseSpacing) && since < FloorHold) return;
            // Sessions are not always what holds the decoder back (a start before the code is optimized, the
            // store's writes or another process taking the CPU): the shedding stops at a few times what the rate
            // asks for — beyond that, sampling thousands of sessions down to one took nothing off the queue.
            if (InputSampling >= Math.Min(65536, MostAboveRate * _rateSampling)) return;
            next = InputSampling * 2;
            (_fillAtRaise, _raisedAt, _floorAt) = (fill, now, now);
            Volatile.Write(ref _floor, next);
            _backlogRaises++;
        }
        IngestLog.SessionInputSamplingBacklog(_log, next, fill);
        SetInputSampling(next, rate: -1);
    }

    /// <summary>
    /// Between flushes, every 64 slices: when the sessions held (one in N of the new ones) came at more than
    /// twice session_input_rate over the last tenth of a second or more, the input sampling rises now rather
    /// than at the next flush — the first second of a flood otherwise holds every session, the table grows by
    /// a million entries and the decoder falls behind its socket. It only rises here; the flush sets it from
    /// the whole interval, down as well as up.
    /// </summary>
    private void RaiseOnFlood()
    {
        var now = _clock();
        long total = 0;
        foreach (var s in _sessionizers)
        {
            lock (s) total += s.NewSessions;
        }
        double rate;
        lock (_samplingLock)
        {
            var seconds = (now - _checkedAt) / 1e6;
            if (seconds < 0.1 && _checkedAt != 0) return;
            var added = total - _checkedSessions;
            (_checkedAt, _checkedSessions) = (now, total);
            rate = added / seconds;
            // Held sessions (one in N) at twice the budget: a rate the sampling in force already meets is left to the flush.
            if (added < _inputRate / 20 || rate < 2 * _inputRate * InputSampling) return;
        }
        var next = Sampling(rate);
        _rateSampling = Math.Max(_rateSampling, next);
        if (next > InputSampling) SetInputSampling(next, rate);
    }

    /// <summary>The least power of two that brings <paramref name="rate"/> new sessions a second under session_input_rate.</summary>
    private int Sampling(double rate) =>
        (int)Math.Min(65536, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Min(65536, Math.Max(1, Math.Ceiling(rate / _inputRate)))));

    private void SetInputSampling(int next, double rate)
    {
        lock (_samplingLock)
        {
            if (next == InputSampling) return;
            foreach (var s in _sessionizers)
            {
                lock (s) s.InputSampling = next;
            }
            if (rate >= 0) IngestLog.SessionInputSampling(_log, next, (long)rate, (long)_inputRate);
            InputSampling = next;
        }
    }
}
