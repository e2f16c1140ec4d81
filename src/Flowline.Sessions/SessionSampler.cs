namespace Flowline.Sessions;

/// <summary>What the sampler decided for one session: export it or not, and the factor its counts are multiplied by.</summary>
public readonly record struct SampleDecision(bool Export, double Scale, double Probability)
{
    public static readonly SampleDecision Skip = new(false, 0, 0);
}

/// <summary>
/// Session sampling as seed 001 describes it, with the upscaling done right. A session whose bytes since its
/// last export (<c>diff</c>, forward and reverse together, so both sides go or neither does) reach the
/// threshold is always exported, counted as it is. A smaller one is exported with probability
/// <c>diff / threshold</c>, and when it is, its counts are divided by that probability in floating point,
/// so that every session's expected exported count equals its true count (Horvitz–Thompson). Once per
/// interval the threshold follows the export rate towards a configured target: up by the ratio when
/// over, down (at most halving) when well under, aiming a little below the target so that it is not
/// overshot by chance.
/// </summary>
public sealed class SessionSampler
{
    /// <summary>The share of the target the threshold aims at, leaving room for the randomness of a second.</summary>
    public const double Aim = 0.9;
    private readonly double _target;
    private readonly Random _random;
    private long _exported, _sessions;

    /// <param name="targetPerSecond">Sessions exported per second at most, on average; 0: export every session.</param>
    /// <param name="initialThreshold">Bytes at or above which a session is always exported, until the first adaptation.</param>
    public SessionSampler(double targetPerSecond, double initialThreshold = 10_000, Random? random = null)
    {
        if (targetPerSecond < 0 || double.IsNaN(targetPerSecond)) throw new ArgumentOutOfRangeException(nameof(targetPerSecond), "the export rate is a number of sessions per second, 0 for all");
        if (!(initialThreshold >= 1)) throw new ArgumentOutOfRangeException(nameof(initialThreshold), "the threshold is at least one byte");
        _target = targetPerSecond;
        _random = random ?? new Random();
        Threshold = initialThreshold;
    }

    /// <summary>Bytes at or above which a session is exported as it is.</summary>
    public double Threshold { get; private set; }

    /// <summary>Sessions exported and sessions decided in the current interval.</summary>
    public (long Exported, long Sessions) Interval => (_exported, _sessions);

    public SampleDecision Decide(ulong diffBytes)
    {
        _sessions++;
        if (_target == 0 || diffBytes >= Threshold)
        {
            _exported++;
            return new SampleDecision(true, 1, 1);
        }
        if (diffBytes == 0) return SampleDecision.Skip; // nothing new to report
        var p = diffBytes / Threshold;
        if (_random.NextDouble() >= p) return SampleDecision.Skip;
        _exported++;
        return new SampleDecision(true, 1 / p, p);
    }

    /// <summary>Ends an interval of <paramref name="seconds"/>: moves the threshold by how the export rate compared with the target.</summary>
    public void EndInterval(double seconds)
    {
        if (_target > 0 && seconds > 0)
        {
            var rate = _exported / seconds;
            var goal = _target * Aim;
            var ratio = rate / goal;
            if (ratio > 1.05) Threshold *= ratio;
            else if (ratio < 0.8 && _sessions > 0) Threshold = Math.Max(1, Threshold * Math.Max(0.5, ratio));
        }
        _exported = 0;
        _sessions = 0;
    }
}
