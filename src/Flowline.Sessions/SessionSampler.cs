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
/// interval the threshold is set for the next from the sizes of this interval's sessions (a histogram of
/// quarter octaves): the threshold whose expected exports, <c>sessions at or above it + their bytes
/// below it / threshold</c>, meet the target a little below it (so that it is not overshot by chance),
/// and 1 byte — every session — when all of them would stay under it. A flood is met in one interval.
/// <para>
/// When the owner can see an interval's sizes before deciding (a flush), it gives them to
/// <see cref="Measure"/> and calls <see cref="Plan"/>: the threshold is then solved for the interval itself,
/// and even the first interval of a flood keeps to the target.
/// </para>
/// </summary>
public sealed class SessionSampler
{
    /// <summary>The share of the target the threshold aims at, leaving room for the randomness of a second.</summary>
    public const double Aim = 0.9;
    private readonly double _target;
    private readonly Random _random;
    private long _exported, _sessions;
    private const int PerOctave = 4, Buckets = 64 * PerOctave;
    /// <summary>This interval's sessions and their bytes by size, in quarter octaves.</summary>
    private readonly long[] _counts = new long[Buckets];
    private readonly double[] _bytes = new double[Buckets];
    /// <summary>The threshold was solved for the current interval from its measured sizes.</summary>
    private bool _planned;

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
        if (diffBytes > 0 && !_planned)
        {
            var b = Bucket(diffBytes);
            _counts[b]++;
            _bytes[b] += diffBytes;
        }
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

    private static int Bucket(ulong bytes)
    {
        var octave = 63 - System.Numerics.BitOperations.LeadingZeroCount(bytes);
        var quarter = octave >= 2 ? (int)(bytes >> (octave - 2)) & 3 : octave == 1 ? (int)(bytes & 1) * 2 : 0;
        return octave * PerOctave + quarter;
    }

    /// <summary>The smallest size of a bucket (quarter octaves: 2^octave × (1, 1.25, 1.5, 1.75)).</summary>
    private static double Lower(int bucket) => Math.Pow(2, bucket / PerOctave) * (1 + bucket % PerOctave / 4.0);

    /// <summary>Counts one session's bytes of the coming interval, before <see cref="Plan"/>.</summary>
    public void Measure(ulong diffBytes)
    {
        if (diffBytes == 0) return;
        var b = Bucket(diffBytes);
        _counts[b]++;
        _bytes[b] += diffBytes;
    }

    /// <summary>
    /// Solves the threshold for the interval of <paramref name="seconds"/> about to be decided, from the sizes
    /// given to <see cref="Measure"/>; <see cref="Decide"/> then counts nothing more until <see cref="EndInterval"/>.
    /// </summary>
    public void Plan(double seconds)
    {
        if (_target > 0 && seconds > 0) Threshold = Solve(seconds);
        Array.Clear(_counts);
        Array.Clear(_bytes);
        _planned = true;
    }

    /// <summary>
    /// Ends an interval of <paramref name="seconds"/>: unless it was planned, sets the threshold for the next
    /// from this one's session sizes.
    /// </summary>
    public void EndInterval(double seconds)
    {
        if (!_planned && _target > 0 && seconds > 0 && _sessions > 0) Threshold = Solve(seconds);
        _planned = false;
        Array.Clear(_counts);
        Array.Clear(_bytes);
        _exported = 0;
        _sessions = 0;
    }

    /// <summary>The threshold whose expected exports over the counted sizes meet the target for <paramref name="seconds"/>.</summary>
    private double Solve(double seconds)
    {
        var goal = _target * Aim * seconds;
        double above = 0, below = 0;
        foreach (var b in _bytes) below += b;
        // The smallest size of the bucket above with sessions: the threshold lies below it.
        var upper = double.PositiveInfinity;
        for (var b = Buckets - 1; b >= 0; b--)
        {
            if (_counts[b] == 0) continue;
            // Expected exports with the threshold at this bucket's smallest size: its sessions and those above
            // go whole, those below with probability bytes / threshold.
            var belowOthers = below - _bytes[b];
            if (above + _counts[b] + belowOthers / Lower(b) >= goal)
            {
                // The threshold lies between this bucket and the next one up with sessions (beyond every
                // session when this is the largest): count this bucket's sessions as below it, and solve.
                return Math.Max(1, Math.Clamp(below / Math.Max(goal - above, 1e-9), Lower(b), upper));
            }
            above += _counts[b];
            below = belowOthers;
            upper = Lower(b);
        }
        return 1;
    }
}
