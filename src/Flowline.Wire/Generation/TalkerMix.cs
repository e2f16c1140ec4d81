using System.Globalization;
using Flowline.Records;

namespace Flowline.Wire.Generation;

/// <summary>What a talker sends: a TCP conversation, or one of the floods DDoS detection looks for.</summary>
public enum TalkerKind
{
    /// <summary>TCP with ACK from port 40000+k to 443.</summary>
    Tcp,
    /// <summary>SYN without ACK from random ports to PORT (default 80): a SYN flood.</summary>
    Syn,
    /// <summary>SYN-ACK from PORT (default 80) to random ports: TCP reflection.</summary>
    SynAck,
    /// <summary>UDP from random ports to PORT (random without one): a UDP flood.</summary>
    Udp,
    /// <summary>UDP from PORT (default 53) to random ports: amplification.</summary>
    UdpFrom,
    /// <summary>ICMP of type PORT (default echo request).</summary>
    Icmp,
    /// <summary>ICMP port unreachable (the talker is the host answering to its closed ports).</summary>
    Unreachable,
    /// <summary>IP protocol PORT (default 47, GRE) without ports.</summary>
    Ip,
    /// <summary>Fragments of UDP (or protocol PORT): one first fragment with the UDP header to three later ones without.</summary>
    Fragment,
}

/// <summary>
/// A conversation sending at a steady rate: source, destination, bytes per second; what it sends; the
/// source's random low bits (a /24 source: 8 bits, every frame from another address of it); its frame size (0: the mix's).
/// </summary>
public sealed record Talker(FlowAddress Source, FlowAddress Destination, double BytesPerSecond, TalkerKind Kind = TalkerKind.Tcp, ushort? Port = null,
    int SourceBits = 0, int Frame = 0);

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
        var rates = talkers.Select(t => t.BytesPerSecond / FrameOf(t) / SamplingRate).ToArray();
        _cumulative = rates.Select(r => sum += r).ToArray();
        _sampleRate = sum;
        _random = new Random(seed);
        _start = startMicros;
    }

    private int FrameOf(Talker t) => t.Frame > 0 ? t.Frame : FrameBytes;

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
        var index = k < 0 ? _talkers.Count - 1 : k;
        var talker = _talkers[index];
        var time = _start + (long)(_clock * 1e6);
        var v6 = !talker.Source.IsV4;
        var source = talker.Source;
        if (talker.SourceBits > 0)
        {
            var bits = (ulong)_random.NextInt64() & ((1UL << Math.Min(62, talker.SourceBits)) - 1);
            source = new FlowAddress(source.Hi, source.Lo | bits);
        }
        var frame = FrameOf(talker);
        var r = new FlowRecord
        {
            TimeReceived = time,
            Start = time,
            End = time,
            IpVersion = v6 ? (byte)6 : (byte)4,
            EtherType = v6 ? (ushort)0x86DD : (ushort)0x0800,
            IpProto = 6,
            SrcAddr = source,
            DstAddr = talker.Destination,
            SrcPort = (ushort)(40000 + index),
            DstPort = 443,
            TcpFlags = 0x10,
            InIf = 1,
            OutIf = 2,
            SrcMac = 0x0200_0000_0000UL | (source.Lo & 0xFFFF_FFFF),
            DstMac = 0x0200_0000_0000UL | (talker.Destination.Lo & 0xFFFF_FFFF),
            SamplingRate = SamplingRate,
            SampledPackets = 1,
            SampledBytes = (ulong)frame,
            Packets = SamplingRate,
            Bytes = (ulong)frame * SamplingRate,
        };
        var ephemeral = (ushort)_random.Next(1024, 65536);
        switch (talker.Kind)
        {
            case TalkerKind.Syn:
                (r.SrcPort, r.DstPort, r.TcpFlags) = (ephemeral, talker.Port ?? 80, 0x02);
                break;
            case TalkerKind.SynAck:
                (r.SrcPort, r.DstPort, r.TcpFlags) = (talker.Port ?? 80, ephemeral, 0x12);
                break;
            case TalkerKind.Udp:
                (r.IpProto, r.SrcPort, r.DstPort, r.TcpFlags) = (17, ephemeral, talker.Port ?? (ushort)_random.Next(1, 65536), 0);
                break;
            case TalkerKind.UdpFrom:
                (r.IpProto, r.SrcPort, r.DstPort, r.TcpFlags) = (17, talker.Port ?? 53, ephemeral, 0);
                break;
            case TalkerKind.Icmp or TalkerKind.Unreachable:
                var unreachable = talker.Kind == TalkerKind.Unreachable;
                byte type = unreachable ? (v6 ? (byte)1 : (byte)3) : (byte)(talker.Port ?? (v6 ? 128 : 8));
                byte code = unreachable ? (v6 ? (byte)4 : (byte)3) : (byte)0;
                (r.IpProto, r.SrcPort, r.DstPort, r.TcpFlags, r.IcmpType, r.IcmpCode) = (v6 ? (byte)58 : (byte)1, 0, (ushort)(type << 8 | code), 0, type, code);
                break;
            case TalkerKind.Ip:
                (r.IpProto, r.SrcPort, r.DstPort, r.TcpFlags) = ((byte)(talker.Port ?? 47), 0, 0, 0);
                break;
            case TalkerKind.Fragment:
                var later = _random.Next(4) != 0;
                (r.IpProto, r.SrcPort, r.DstPort, r.TcpFlags, r.IpFragment) = ((byte)(talker.Port ?? 17), later ? (ushort)0 : ephemeral,
                    later ? (ushort)0 : (ushort)4444, 0, later ? FlowFragment.Later : FlowFragment.First);
                break;
        }
        return r;
    }

    /// <summary>
    /// The agent's interface counters at <paramref name="now"/> µs: ifIndex 1 (where the talkers enter) at 10 Gbit/s
    /// with its octets and frames so far, exactly as sent (not sampled).
    /// </summary>
    public CounterRecord Counters(long now, uint sequence)
    {
        var seconds = Math.Max(0, (now - _start) / 1e6);
        var octets = (ulong)(TotalRate * seconds);
        var frames = (ulong)_talkers.Sum(t => t.BytesPerSecond * seconds / FrameOf(t));
        var c = new CounterRecord { SourceId = 1, SampleSequence = sequence, Enterprise = 0, Format = 1 };
        ulong[] values = [1, 6, 10_000_000_000, 1, 3, octets, (uint)frames, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for (var i = 0; i < values.Length; i++) c.Values[i] = values[i];
        c.Count = values.Length;
        return c;
    }

    /// <summary>
    /// "SRC>DST=RATE[@KIND[:PORT]][*FRAME],…": RATE in bytes per second with an optional k, M or G (thousands,
    /// millions, billions); SRC an address or a prefix (every frame from a random address of it); KIND one of
    /// tcp (default), syn, synack, udp, udp-from, icmp, unreach, ip, frag; FRAME the talker's frame size.
    /// </summary>
    public static IReadOnlyList<Talker> Parse(string spec)
    {
        var talkers = new List<Talker>();
        foreach (var whole in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var part = whole;
            var frame = 0;
            var star = part.IndexOf('*');
            if (star > 0)
            {
                if (!int.TryParse(part[(star + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out frame) || frame is < 64 or > 9000)
                    throw new FormatException($"'{whole}': the frame size after * is 64 to 9000 bytes");
                part = part[..star];
            }
            var kind = TalkerKind.Tcp;
            ushort? port = null;
            var at = part.IndexOf('@');
            if (at > 0)
            {
                var k = part[(at + 1)..].Split(':');
                kind = k[0].ToLowerInvariant() switch
                {
                    "tcp" => TalkerKind.Tcp, "syn" => TalkerKind.Syn, "synack" => TalkerKind.SynAck, "udp" => TalkerKind.Udp,
                    "udp-from" => TalkerKind.UdpFrom, "icmp" => TalkerKind.Icmp, "unreach" => TalkerKind.Unreachable, "ip" => TalkerKind.Ip,
                    "frag" => TalkerKind.Fragment,
                    _ => throw new FormatException($"'{whole}': kind '{k[0]}' is not tcp, syn, synack, udp, udp-from, icmp, unreach, ip or frag"),
                };
                if (k.Length > 1) port = ushort.TryParse(k[1], NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : throw new FormatException($"'{whole}': '{k[1]}' is not a port (or type, or protocol)");
                part = part[..at];
            }
            var arrow = part.IndexOf('>');
            var equals = part.IndexOf('=');
            if (arrow <= 0 || equals < arrow) throw new FormatException($"'{whole}': expected SOURCE>DESTINATION=BYTES_PER_SECOND");
            var srcText = part[..arrow];
            var bits = 0;
            var slash = srcText.IndexOf('/');
            if (slash > 0)
            {
                if (!int.TryParse(srcText[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var length)) throw new FormatException($"'{whole}': bad source prefix");
                srcText = srcText[..slash];
                bits = (srcText.Contains(':') ? 128 : 32) - length;
                if (bits is < 0 or > 62) throw new FormatException($"'{whole}': the source prefix is /{length}: 0 to 62 random bits at most");
            }
            if (!System.Net.IPAddress.TryParse(srcText, out var src) || !System.Net.IPAddress.TryParse(part[(arrow + 1)..equals], out var dst))
                throw new FormatException($"'{whole}': source and destination must be IP addresses");
            if (src.AddressFamily != dst.AddressFamily) throw new FormatException($"'{whole}': source and destination of one family");
            var rate = part[(equals + 1)..];
            var scale = rate.Length > 0 ? rate[^1] switch { 'k' or 'K' => 1e3, 'M' => 1e6, 'G' => 1e9, _ => 1 } : 1;
            if (scale != 1) rate = rate[..^1];
            if (!double.TryParse(rate, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) || r <= 0)
                throw new FormatException($"'{whole}': the rate must be a positive number of bytes per second (k, M, G allowed)");
            var source = FlowAddress.FromIPAddress(src);
            if (bits > 0) source = new FlowAddress(source.Hi, source.Lo & ~((1UL << bits) - 1));
            talkers.Add(new Talker(source, FlowAddress.FromIPAddress(dst), r * scale, kind, port, bits, frame));
        }
        if (talkers.Count == 0) throw new FormatException("no talkers given");
        return talkers;
    }
}
