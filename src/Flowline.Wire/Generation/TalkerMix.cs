using System.Globalization;
using Flowline.Records;

namespace Flowline.Wire.Generation;

/// <summary>A conversation sending at a steady rate: source, destination, bytes per second.</summary>
public sealed record Talker(FlowAddress Source, FlowAddress Destination, double BytesPerSecond);

/// <summary>
/// A known traffic mix, sampled as an sFlow agent samples it: every talker sends frames of a fixed size at
/// its rate, and each frame is sampled with probability 1/N, so the samples of a talker are a Poisson
/// stream of rate bytesPerSecond / (frame × N). The true rates are therefore known exactly, and what an
/// analyzer estimates from the samples can be checked against them.
/// </summary>
public sealed class TalkerMix
{
    private readonly IReadOnlyList<Talker> _talkers;
    private readonly double[] _cumulative;
    private readonly double _sampleRate;
    private readonly Random _random;
    private readonly long _start;
    private double _clock;

    public TalkerMix(IReadOnlyList<Talker> talkers, uint samplingRate, int frameBytes, int seed, long startMicros)
    {
        if (talkers.Count == 0) throw new ArgumentException("at least one talker", nameof(talkers));
        ArgumentOutOfRangeException.ThrowIfLessThan(frameBytes, 64);
        _talkers = talkers;
        SamplingRate = Math.Max(1, samplingRate);
        FrameBytes = frameBytes;
        var sum = 0.0;
        var rates = talkers.Select(t => t.BytesPerSecond / frameBytes / SamplingRate).ToArray();
        _cumulative = rates.Select(r => sum += r).ToArray();
        _sampleRate = sum;
        _random = new Random(seed);
        _start = startMicros;
    }

    public uint SamplingRate { get; }
    public int FrameBytes { get; }
    /// <summary>Bytes per second of all talkers together.</summary>
    public double TotalRate => _talkers.Sum(t => t.BytesPerSecond);

    /// <summary>The next sampled frame, in time order: one flow sample record (its time in µs).</summary>
    public FlowRecord Next()
    {
        _clock += -Math.Log(1 - _random.NextDouble()) / _sampleRate;
        var pick = _random.NextDouble() * _sampleRate;
        var k = Array.FindIndex(_cumulative, c => pick < c);
        var talker = _talkers[k < 0 ? _talkers.Count - 1 : k];
        var time = _start + (long)(_clock * 1e6);
        var v6 = !talker.Source.IsV4;
        return new FlowRecord
        {
            TimeReceived = time,
            Start = time,
            End = time,
            IpVersion = v6 ? (byte)6 : (byte)4,
            EtherType = v6 ? (ushort)0x86DD : (ushort)0x0800,
            IpProto = 6,
            SrcAddr = talker.Source,
            DstAddr = talker.Destination,
            SrcPort = (ushort)(40000 + (k < 0 ? 0 : k)),
            DstPort = 443,
            TcpFlags = 0x10,
            InIf = 1,
            OutIf = 2,
            SrcMac = 0x0200_0000_0000UL | (talker.Source.Lo & 0xFFFF_FFFF),
            DstMac = 0x0200_0000_0000UL | (talker.Destination.Lo & 0xFFFF_FFFF),
            SamplingRate = SamplingRate,
            SampledPackets = 1,
            SampledBytes = (ulong)FrameBytes,
            Packets = SamplingRate,
            Bytes = (ulong)FrameBytes * SamplingRate,
        };
    }

    /// <summary>
    /// The agent's interface counters at <paramref name="now"/> µs: ifIndex 1 (where the talkers enter) at 10 Gbit/s
    /// with its octets and frames so far, exactly as sent (not sampled).
    /// </summary>
    public CounterRecord Counters(long now, uint sequence)
    {
        var seconds = Math.Max(0, (now - _start) / 1e6);
        var octets = (ulong)(TotalRate * seconds);
        var frames = octets / (ulong)FrameBytes;
        var c = new CounterRecord { SourceId = 1, SampleSequence = sequence, Enterprise = 0, Format = 1 };
        ulong[] values = [1, 6, 10_000_000_000, 1, 3, octets, (uint)frames, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for (var i = 0; i < values.Length; i++) c.Values[i] = values[i];
        c.Count = values.Length;
        return c;
    }

    /// <summary>"SRC>DST=RATE,…" with RATE in bytes per second and an optional k, M or G (thousands, millions, billions).</summary>
    public static IReadOnlyList<Talker> Parse(string spec)
    {
        var talkers = new List<Talker>();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var arrow = part.IndexOf('>');
            var equals = part.IndexOf('=');
            if (arrow <= 0 || equals < arrow) throw new FormatException($"'{part}': expected SOURCE>DESTINATION=BYTES_PER_SECOND");
            if (!System.Net.IPAddress.TryParse(part[..arrow], out var src) || !System.Net.IPAddress.TryParse(part[(arrow + 1)..equals], out var dst))
                throw new FormatException($"'{part}': source and destination must be IP addresses");
            var rate = part[(equals + 1)..];
            var scale = rate.Length > 0 ? rate[^1] switch { 'k' or 'K' => 1e3, 'M' => 1e6, 'G' => 1e9, _ => 1 } : 1;
            if (scale != 1) rate = rate[..^1];
            if (!double.TryParse(rate, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) || r <= 0)
                throw new FormatException($"'{part}': the rate must be a positive number of bytes per second (k, M, G allowed)");
            talkers.Add(new Talker(FlowAddress.FromIPAddress(src), FlowAddress.FromIPAddress(dst), r * scale));
        }
        if (talkers.Count == 0) throw new FormatException("no talkers given");
        return talkers;
    }
}
