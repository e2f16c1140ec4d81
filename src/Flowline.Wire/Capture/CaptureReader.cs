using System.Buffers.Binary;
using Flowline.Records;

namespace Flowline.Wire.Capture;

/// <summary>
/// Reads UDP datagrams from a pcap or pcapng capture (Ethernet, Linux cooked v1/v2, raw IP, BSD
/// loopback), IPv4 and IPv6, reassembling IPv4 fragments. Streams the file through one reusable buffer.
/// </summary>
public sealed class CaptureReader : IDisposable
{
    private const uint PcapMagicMicro = 0xA1B2C3D4;
    private const uint PcapMagicNano = 0xA1B23C4D;
    private const uint PcapngSectionHeader = 0x0A0D0D0A;
    private const uint PcapngByteOrderMagic = 0x1A2B3C4D;
    private const int MaxBlock = 16 << 20;

    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly Ipv4Reassembler _reassembler = new();
    private byte[] _buffer = new byte[1 << 20];
    private int _start;
    private int _end;
    private long _fileOffset;
    private bool _eof;

    // pcap state
    private readonly bool _isPcapng;
    private bool _bigEndian;
    private bool _nanos;
    private int _linkType;

    // pcapng state: per interface link type and timestamp units per second
    private readonly List<(int LinkType, long UnitsPerSecond, int SnapLength)> _interfaces = [];

    public CaptureStats Stats { get; } = new();

    public static CaptureReader Open(string path)
    {
        FileStream stream;
        if (Directory.Exists(path)) throw new CaptureFormatException($"{path}: is a directory, not a capture file");
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        }
        catch (FileNotFoundException)
        {
            throw new CaptureFormatException($"{path}: no such file");
        }
        catch (DirectoryNotFoundException)
        {
            throw new CaptureFormatException($"{path}: no such file (its directory does not exist)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CaptureFormatException($"{path}: {e.Message}");
        }
        try
        {
            return new CaptureReader(stream, ownsStream: true, name: path);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public CaptureReader(Stream stream, bool ownsStream = false, string name = "input")
    {
        _stream = stream;
        _ownsStream = ownsStream;
        if (!Ensure(4))
        {
            throw new CaptureFormatException($"{name}: not a capture file (it is {_end - _start} bytes long; a pcap or pcapng file starts with a 24- or 28-byte header)");
        }
        var magicLe = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start));
        var magicBe = BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_start));
        if (magicLe == PcapngSectionHeader)
        {
            _isPcapng = true;
            return;
        }
        if (magicLe is PcapMagicMicro or PcapMagicNano)
        {
            _bigEndian = false;
            _nanos = magicLe == PcapMagicNano;
        }
        else if (magicBe is PcapMagicMicro or PcapMagicNano)
        {
            _bigEndian = true;
            _nanos = magicBe == PcapMagicNano;
        }
        else
        {
            var head = Convert.ToHexString(_buffer.AsSpan(_start, Math.Min(8, _end - _start))).ToLowerInvariant();
            throw new CaptureFormatException($"{name}: not a capture file (starts with 0x{head}; expected the pcap magic a1b2c3d4/a1b23c4d or pcapng 0a0d0d0a)");
        }
        if (!Ensure(24))
        {
            throw new CaptureFormatException($"{name}: pcap global header is cut short ({_end - _start} of 24 bytes)");
        }
        _linkType = (int)(U32(_buffer.AsSpan(_start + 20)) & 0x0FFF_FFFF);
        Consume(24);
    }

    public void Dispose()
    {
        if (_ownsStream)
        {
            _stream.Dispose();
        }
    }

    /// <summary>Returns the next UDP datagram, skipping (and counting) everything else; false at the end.</summary>
    public bool TryRead(out CapturedDatagram datagram)
    {
        while (true)
        {
            if (!NextFrame(out var linkType, out var timestamp, out var frame, out var truncated))
            {
                // What is still missing fragments at the end never comes.
                Stats.Incomplete = _reassembler.Pending;
                datagram = default;
                return false;
            }
            Stats.Packets++;
            if (truncated)
            {
                Stats.Truncated++;
                continue;
            }
            if (ParseLink(linkType, frame, timestamp, out datagram))
            {
                Stats.Datagrams++;
                return true;
            }
        }
    }

    private uint U32(ReadOnlySpan<byte> s) => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);
    private ushort U16(ReadOnlySpan<byte> s) => _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);

    private bool NextFrame(out int linkType, out long timestamp, out ReadOnlySpan<byte> frame, out bool truncated)
    {
        return _isPcapng ? NextPcapngFrame(out linkType, out timestamp, out frame, out truncated) : NextPcapFrame(out linkType, out timestamp, out frame, out truncated);
    }

    /*
     pcap record header: ts_sec (4), ts_usec or ts_nsec (4), incl_len (4), orig_len (4), then incl_len bytes.
    */
    private bool NextPcapFrame(out int linkType, out long timestamp, out ReadOnlySpan<byte> frame, out bool truncated)
    {
        linkType = _linkType;
        timestamp = 0;
        frame = default;
        truncated = false;
        if (!Ensure(16))
        {
            if (_end > _start) Stats.CutShort++; // a partial trailing record header is the end of a cut capture
            return false;
        }
        var h = _buffer.AsSpan(_start, 16);
        var seconds = U32(h);
        var fraction = U32(h[4..]);
        var included = U32(h[8..]);
        var original = U32(h[12..]);
        if (included > MaxBlock)
        {
            throw new CaptureFormatException($"corrupt pcap record at byte {_fileOffset}: captured length {included}");
        }
        if (!Ensure(16 + (int)included))
        {
            Stats.CutShort++;
            return false;
        }
        timestamp = seconds * 1_000_000L + (_nanos ? fraction / 1000 : fraction);
        frame = _buffer.AsSpan(_start + 16, (int)included);
        truncated = included < original;
        Consume(16 + (int)included);
        return true;
    }

    /*
     pcapng block: Block Type (4), Block Total Length (4), body, Block Total Length (4).
     Section Header (0x0A0D0D0A): byte-order magic, version, section length, options.
     Interface Description (1): LinkType (2), reserved (2), SnapLen (4), options (if_tsresol = 9).
     Enhanced Packet (6): Interface ID, Timestamp high, low, Captured Length, Original Length, data.
     Simple Packet (3): Original Length, data.   Packet (2, obsolete): Interface ID (2), drops (2), ts high, low, caplen, len, data.
    */
    private bool NextPcapngFrame(out int linkType, out long timestamp, out ReadOnlySpan<byte> frame, out bool truncated)
    {
        linkType = 0;
        timestamp = 0;
        frame = default;
        truncated = false;
        while (true)
        {
            if (!Ensure(12))
            {
                if (_end > _start) Stats.CutShort++;
                return false;
            }
            var type = U32(_buffer.AsSpan(_start));
            if (type == PcapngSectionHeader)
            {
                var magic = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start + 8));
                if (magic == PcapngByteOrderMagic) _bigEndian = false;
                else if (BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_start + 8)) == PcapngByteOrderMagic) _bigEndian = true;
                else throw new CaptureFormatException($"corrupt pcapng section header at byte {_fileOffset}: byte-order magic missing");
                _interfaces.Clear();
            }
            var length = U32(_buffer.AsSpan(_start + 4));
            if (length < 12 || length % 4 != 0 || length > MaxBlock)
            {
                throw new CaptureFormatException($"corrupt pcapng block at byte {_fileOffset}: type 0x{type:x8}, length {length}");
            }
            if (!Ensure((int)length))
            {
                Stats.CutShort++;
                return false;
            }
            var body = _buffer.AsSpan(_start + 8, (int)length - 12);
            switch (type)
            {
                case 1:
                    if (body.Length >= 8)
                    {
                        _interfaces.Add((U16(body), TimestampResolution(body[8..]), (int)U32(body[4..])));
                    }
                    break;
                case 6 or 2 when body.Length >= 20:
                {
                    var iface = type == 6 ? (int)U32(body) : U16(body);
                    var caplen = U32(body[12..]);
                    var origlen = U32(body[16..]);
                    if (iface < _interfaces.Count && caplen <= body.Length - 20)
                    {
                        var (lt, units, _) = _interfaces[iface];
                        var ts = ((long)U32(body[4..]) << 32) | U32(body[8..]);
                        linkType = lt;
                        timestamp = UnitsToMicros(ts, units);
                        frame = body.Slice(20, (int)caplen);
                        truncated = caplen < origlen;
                        Consume((int)length);
                        return true;
                    }
                    break;
                }
                case 3 when body.Length >= 4 && _interfaces.Count > 0:
                {
                    var origlen = (int)U32(body);
                    var (lt, _, snap) = _interfaces[0];
                    var caplen = Math.Min(origlen, body.Length - 4);
                    if (snap > 0) caplen = Math.Min(caplen, snap);
                    linkType = lt;
                    frame = body.Slice(4, caplen);
                    truncated = caplen < origlen;
                    Consume((int)length);
                    return true;
                }
            }
            Consume((int)length);
        }
    }

    private long TimestampResolution(ReadOnlySpan<byte> options)
    {
        long units = 1_000_000;
        var o = 0;
        while (options.Length - o >= 4)
        {
            var code = U16(options[o..]);
            var len = U16(options[(o + 2)..]);
            if (code == 0 || options.Length - o - 4 < len) break;
            if (code == 9 && len >= 1)
            {
                var v = options[o + 4];
                var exp = v & 0x7F;
                if (exp > 62) break;
                units = (v & 0x80) != 0 ? 1L << exp : (long)Math.Pow(10, Math.Min(exp, 18));
            }
            o += 4 + ((len + 3) & ~3);
        }
        return units;
    }

    private static long UnitsToMicros(long ts, long unitsPerSecond) =>
        unitsPerSecond == 1_000_000 ? ts : (long)((Int128)ts * 1_000_000 / unitsPerSecond);

    private bool ParseLink(int linkType, ReadOnlySpan<byte> f, long timestamp, out CapturedDatagram datagram)
    {
        datagram = default;
        switch (linkType)
        {
            case 1: // Ethernet
            {
                if (f.Length < 14) break;
                var type = BinaryPrimitives.ReadUInt16BigEndian(f[12..]);
                var offset = 14;
                while (type is 0x8100 or 0x88A8 or 0x9100 && f.Length >= offset + 4)
                {
                    type = BinaryPrimitives.ReadUInt16BigEndian(f[(offset + 2)..]);
                    offset += 4;
                }
                return ParseNetwork(type, f[offset..], timestamp, out datagram);
            }
            case 113: // Linux cooked v1: 16-byte header, protocol at 14
                if (f.Length < 16) break;
                return ParseNetwork(BinaryPrimitives.ReadUInt16BigEndian(f[14..]), f[16..], timestamp, out datagram);
            case 276: // Linux cooked v2: 20-byte header, protocol at 0
                if (f.Length < 20) break;
                return ParseNetwork(BinaryPrimitives.ReadUInt16BigEndian(f), f[20..], timestamp, out datagram);
            case 101 or 12 or 14 or 228 or 229: // raw IP
                if (f.Length < 1) break;
                return ParseNetwork(f[0] >> 4 == 6 ? (ushort)0x86DD : (ushort)0x0800, f, timestamp, out datagram);
            case 0 or 108: // BSD loopback: 4-byte address family (host order for 0, network order for 108)
            {
                if (f.Length < 4) break;
                var family = linkType == 108 ? BinaryPrimitives.ReadUInt32BigEndian(f) :
                    (BinaryPrimitives.ReadUInt32LittleEndian(f) is var le && le < 256 ? le : BinaryPrimitives.ReadUInt32BigEndian(f));
                var type = family switch
                {
                    2 => (ushort)0x0800,
                    24 or 28 or 30 => (ushort)0x86DD,
                    _ => (ushort)0,
                };
                return ParseNetwork(type, f[4..], timestamp, out datagram);
            }
            default:
                Stats.UnsupportedLinkType++;
                return false;
        }
        Stats.NotUdp++;
        return false;
    }

    private bool ParseNetwork(ushort etherType, ReadOnlySpan<byte> p, long timestamp, out CapturedDatagram datagram)
    {
        datagram = default;
        if (etherType == 0x0800 && p.Length >= 20 && p[0] >> 4 == 4)
        {
            var ihl = (p[0] & 0xF) * 4;
            var total = BinaryPrimitives.ReadUInt16BigEndian(p[2..]);
            if (ihl < 20 || total < ihl || p.Length < ihl)
            {
                Stats.NotUdp++;
                return false;
            }
            if (p[9] != 17)
            {
                Stats.NotUdp++;
                return false;
            }
            var payload = p.Slice(ihl, Math.Min(total, p.Length) - ihl);
            var src = BinaryPrimitives.ReadUInt32BigEndian(p[12..]);
            var dst = BinaryPrimitives.ReadUInt32BigEndian(p[16..]);
            var flagsOffset = BinaryPrimitives.ReadUInt16BigEndian(p[6..]);
            var more = (flagsOffset & 0x2000) != 0;
            var fragmentOffset = (flagsOffset & 0x1FFF) * 8;
            if (more || fragmentOffset != 0)
            {
                Stats.Fragments++;
                var dropped = _reassembler.Dropped;
                var complete = _reassembler.Add(src, dst, BinaryPrimitives.ReadUInt16BigEndian(p[4..]), 17, fragmentOffset, more, payload, out var whole);
                Stats.FragmentsDropped += _reassembler.Dropped - dropped;
                if (!complete)
                {
                    return false;
                }
                Stats.Reassembled++;
                payload = whole;
            }
            return ParseUdp(payload, FlowAddress.FromV4(src), FlowAddress.FromV4(dst), timestamp, out datagram);
        }
        if (etherType == 0x86DD && p.Length >= 40 && p[0] >> 4 == 6)
        {
            var next = p[6];
            var offset = 40;
            for (var i = 0; i < 8 && next is 0 or 43 or 60 or 44; i++)
            {
                if (next == 44)
                {
                    Stats.Ipv6Fragments++;
                    return false;
                }
                if (p.Length < offset + 2) break;
                next = p[offset];
                offset += (p[offset + 1] + 1) * 8;
            }
            if (next != 17 || offset > p.Length)
            {
                Stats.NotUdp++;
                return false;
            }
            var payloadLength = BinaryPrimitives.ReadUInt16BigEndian(p[4..]);
            var end = Math.Min(p.Length, 40 + payloadLength);
            if (end < offset)
            {
                Stats.NotUdp++;
                return false;
            }
            return ParseUdp(p[offset..end], FlowAddress.FromV6(p[8..]), FlowAddress.FromV6(p[24..]), timestamp, out datagram);
        }
        Stats.NotUdp++;
        return false;
    }

    private bool ParseUdp(ReadOnlySpan<byte> u, FlowAddress src, FlowAddress dst, long timestamp, out CapturedDatagram datagram)
    {
        datagram = default;
        if (u.Length < 8)
        {
            Stats.NotUdp++;
            return false;
        }
        var length = BinaryPrimitives.ReadUInt16BigEndian(u[4..]);
        if (length < 8 || length > u.Length)
        {
            Stats.Truncated++;
            return false;
        }
        datagram = new CapturedDatagram(timestamp, src, BinaryPrimitives.ReadUInt16BigEndian(u), dst,
            BinaryPrimitives.ReadUInt16BigEndian(u[2..]), u[8..length]);
        return true;
    }

    /// <summary>Makes at least <paramref name="n"/> bytes available from <see cref="_start"/>; false at end of input.</summary>
    private bool Ensure(int n)
    {
        while (_end - _start < n)
        {
            if (_eof)
            {
                return false;
            }
            if (_buffer.Length < n)
            {
                Array.Resize(ref _buffer, Math.Max(n, _buffer.Length * 2));
            }
            if (_buffer.Length - _start < n)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            var read = _stream.Read(_buffer, _end, _buffer.Length - _end);
            if (read == 0)
            {
                _eof = true;
                return false;
            }
            _end += read;
        }
        return true;
    }

    private void Consume(int n)
    {
        _start += n;
        _fileOffset += n;
    }
}
