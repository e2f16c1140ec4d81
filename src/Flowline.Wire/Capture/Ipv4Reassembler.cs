using Flowline.Records;

namespace Flowline.Wire.Capture;

/// <summary>
/// Reassembles fragmented IPv4 datagrams (RFC 791) with bounded memory: at most
/// <see cref="MaxDatagrams"/> in progress, the oldest evicted (and counted) when more arrive.
/// </summary>
internal sealed class Ipv4Reassembler
{
    public const int MaxDatagrams = 64;
    private const int MaxSize = 65535;

    private readonly record struct Key(uint Src, uint Dst, ushort Id, byte Proto);

    private sealed class Partial
    {
        public readonly byte[] Data = new byte[MaxSize];
        public readonly bool[] Have = new bool[MaxSize / 8 + 1];
        public int Received;
        public int Total = -1;
        public long Sequence;
    }

    private readonly Dictionary<Key, Partial> _partials = [];
    private readonly Stack<Partial> _free = new();
    private readonly byte[] _output = new byte[MaxSize];
    private long _sequence;

    public long Dropped { get; private set; }

    /// <summary>Datagrams some of whose fragments are in and some not.</summary>
    public int Pending => _partials.Count;

    /// <summary>Adds one fragment's payload; returns the whole payload (valid until the next call) when complete.</summary>
    public bool Add(uint src, uint dst, ushort id, byte proto, int offsetBytes, bool more, ReadOnlySpan<byte> payload, out ReadOnlySpan<byte> complete)
    {
        complete = default;
        if (offsetBytes + payload.Length > MaxSize || (more && payload.Length % 8 != 0))
        {
            Dropped++;
            return false;
        }
        var key = new Key(src, dst, id, proto);
        if (!_partials.TryGetValue(key, out var p))
        {
            if (_partials.Count >= MaxDatagrams)
            {
                var oldest = _partials.MinBy(kv => kv.Value.Sequence);
                _partials.Remove(oldest.Key);
                Recycle(oldest.Value);
                Dropped++;
            }
            p = _free.Count > 0 ? _free.Pop() : new Partial();
            p.Sequence = _sequence++;
            _partials.Add(key, p);
        }
        payload.CopyTo(p.Data.AsSpan(offsetBytes));
        for (var b = offsetBytes / 8; b < (offsetBytes + payload.Length + 7) / 8; b++)
        {
            if (!p.Have[b])
            {
                p.Have[b] = true;
                p.Received += 8;
            }
        }
        if (!more)
        {
            p.Total = offsetBytes + payload.Length;
        }
        if (p.Total >= 0 && p.Received >= ((p.Total + 7) / 8) * 8)
        {
            p.Data.AsSpan(0, p.Total).CopyTo(_output);
            complete = _output.AsSpan(0, p.Total);
            _partials.Remove(key);
            Recycle(p);
            return true;
        }
        return false;
    }

    private void Recycle(Partial p)
    {
        Array.Clear(p.Have);
        p.Received = 0;
        p.Total = -1;
        _free.Push(p);
    }
}
