namespace Flowline.Sessions;

/// <summary>Settings of a <see cref="Sessionizer"/>.</summary>
public sealed record SessionizerOptions
{
    /// <summary>Ports that are always the server's side (e.g. 8080, 5432), before the below-1024 rule.</summary>
    public IReadOnlySet<ushort> ServicePorts { get; init; } = new HashSet<ushort>();

    /// <summary>A session with no traffic for this long (µs, by its flows' end times against the flush time) is forgotten.</summary>
    public long IdleTimeout { get; init; } = 120_000_000;

    /// <summary>
    /// Which observations of a packet count: an exporter that reports each packet where it enters and where
    /// it leaves (Open vSwitch's IPFIX) would count it twice. Records with no reported direction always count.
    /// </summary>
    public SessionObservation Observation { get; init; } = SessionObservation.Auto;

    /// <summary>
    /// Sessions held at most. When a new session finds the table full, a session that was handed out
    /// already and has had no traffic for longest is forgotten early (counted in
    /// <see cref="Sessionizer.Evicted"/>); when every one has traffic not yet handed out, one of those is
    /// exported early (<see cref="Sessionizer.ExportedEarly"/>): its counts go out with the next flush.
    /// </summary>
    public int MaxSessions { get; init; } = 1_000_000;

    /// <summary>A limit shared by several sessionizers (one per decoder), checked besides <see cref="MaxSessions"/>.</summary>
    public SessionLimit? Shared { get; init; }

    /// <summary>Sessions forgotten early are listed with the next flush's ended sessions (for the end of a logged session).</summary>
    public bool ListEvicted { get; init; }
}

/// <summary>Sessions held by several sessionizers together, at most a number.</summary>
public sealed class SessionLimit(long max)
{
    private long _held;

    public long Max => max;
    public long Held => Interlocked.Read(ref _held);

    public bool TryTake()
    {
        if (Interlocked.Increment(ref _held) <= max) return true;
        Interlocked.Decrement(ref _held);
        return false;
    }

    public void Release() => Interlocked.Decrement(ref _held);
}

/// <summary>The records a sessionizer counts, by the direction the exporter reported (IPFIX flowDirection).</summary>
public enum SessionObservation
{
    /// <summary>
    /// Each direction of a session counts the records reported as ingress observations when it has any, else
    /// the egress ones (the default): right for exporters that report every packet twice, where it enters and
    /// where it leaves (Open vSwitch's IPFIX), and for those that report each packet once and mark whether it
    /// came in or went out (softflowd).
    /// </summary>
    Auto,
    /// <summary>Leave out records reported as egress observations.</summary>
    Ingress,
    /// <summary>Leave out records reported as ingress observations (exporters that sample only on output).</summary>
    Egress,
    /// <summary>Count every record.</summary>
    Both,
}

public static class SessionObservations
{
    public static SessionObservation Parse(string text) => text switch
    {
        "auto" => SessionObservation.Auto,
        "ingress" => SessionObservation.Ingress,
        "egress" => SessionObservation.Egress,
        "both" => SessionObservation.Both,
        _ => throw new FormatException($"'{text}': expected auto, ingress, egress or both"),
    };
}
