using Flowline.Wire;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>Who sent: the exporter's address, the protocol, and its observation domain / source id / sFlow sub-agent.</summary>
public readonly record struct ExporterId(FlowAddress Address, FlowProtocol Protocol, uint Domain);

/// <summary>
/// What Flowline knows about one exporter: traffic counters, loss detected from sequence numbers, the
/// sampling rate it reports, first and last seen. Updated by the decoding thread that owns the
/// exporter's socket; read by the API under the same lock.
/// </summary>
public sealed class ExporterState(ExporterId id, FlowAddress source)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<uint, uint> _sampleSequences = [];
    private uint? _expected;

    public ExporterId Id { get; } = id;
    /// <summary>The UDP source of the datagram that made it known (for sFlow, not always its agent).</summary>
    public FlowAddress Source { get; } = source;
    public long Datagrams { get; private set; }
    public long Bytes { get; private set; }
    public long Records { get; private set; }
    public long Malformed { get; private set; }
    public long[] MalformedByReason { get; } = new long[DecodeErrorNames.Count];
    /// <summary>Datagrams from this exporter dropped because a receive queue was full.</summary>
    public long QueueDrops { get; private set; }
    /// <summary>What the protocol's sequence numbers say went missing, in its unit (see <see cref="LostUnit"/>).</summary>
    public long Lost { get; private set; }
    /// <summary>sFlow: samples missing by sample sequence numbers (per data source).</summary>
    public long LostSamples { get; private set; }
    /// <summary>Times the sequence went backwards or jumped too far: an exporter restart, counted, not as loss.</summary>
    public long SequenceResets { get; private set; }
    public uint SamplingRate { get; private set; }
    public long FirstSeen { get; private set; }
    public long LastSeen { get; private set; }

    /// <summary>NetFlow v5 and IPFIX number records; NetFlow v9 export packets; sFlow datagrams.</summary>
    public string LostUnit => Id.Protocol switch
    {
        FlowProtocol.NetFlow5 or FlowProtocol.Ipfix => "records",
        FlowProtocol.NetFlow9 => "packets",
        _ => "datagrams",
    };

    public Lock Sync => _lock;

    /// <summary>A datagram of <paramref name="bytes"/> that gave <paramref name="records"/> flow records.</summary>
    internal void Seen(int bytes, long time, long records)
    {
        lock (_lock)
        {
            Datagrams++;
            Bytes += bytes;
            Records += records;
            if (FirstSeen == 0) FirstSeen = time;
            LastSeen = time;
        }
    }

    /// <summary>Records decoded outside a datagram of this exporter (sets held for a template another collector shared).</summary>
    internal void AddRecords(long records)
    {
        if (records == 0) return;
        lock (_lock) Records += records;
    }

    internal void AddMalformed(DecodeError error)
    {
        lock (_lock)
        {
            Malformed++;
            MalformedByReason[(int)error]++;
        }
    }

    internal void AddQueueDrop()
    {
        lock (_lock) QueueDrops++;
    }

    internal void SetSamplingRate(uint rate)
    {
        if (rate == 0) return;
        lock (_lock) SamplingRate = rate;
    }

    /// <summary>Largest forward jump taken as loss rather than as an exporter restart.</summary>
    private const uint MaxGap = 1u << 24;

    /// <summary>
    /// Checks a datagram's sequence number against the one expected; <paramref name="advance"/> is what
    /// this datagram accounts for (1 per datagram/packet, or its record count), or null when unknown
    /// (the next check then only resynchronises).
    /// </summary>
    internal void Sequence(uint sequence, uint? advance)
    {
        lock (_lock)
        {
            if (_expected is { } expected && sequence != expected)
            {
                var gap = unchecked(sequence - expected);
                if (gap < MaxGap) Lost += gap;
                else SequenceResets++;
            }
            _expected = advance is { } a ? unchecked(sequence + a) : null;
        }
    }

    /// <summary>Data sources whose sample sequence one exporter tracks at most.</summary>
    public const int MaxSampleSources = 4096;

    /// <summary>sFlow sample sequence numbers, per data source.</summary>
    internal void SampleSequence(uint source, uint sequence)
    {
        lock (_lock)
        {
            if (_sampleSequences.TryGetValue(source, out var previous))
            {
                var gap = unchecked(sequence - previous - 1);
                if (gap != 0)
                {
                    if (gap < MaxGap) LostSamples += gap;
                    else SequenceResets++;
                }
            }
            else if (_sampleSequences.Count >= MaxSampleSources)
            {
                // Data source ids come from the datagram: a made-up flood of them restarts the tracking instead of growing it.
                _sampleSequences.Clear();
            }
            _sampleSequences[source] = sequence;
        }
    }
}
