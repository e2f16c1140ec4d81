using System.Buffers.Text;
using System.Text;

namespace Flowline.Records;

/// <summary>A growable UTF-8 output buffer with allocation-free number, address and time formatting.</summary>
public sealed class Utf8TextWriter(Stream output, int capacity = 1 << 16)
{
    private byte[] _buffer = new byte[capacity];
    private int _length;

    public int Length => _length;

    private Span<byte> Reserve(int n)
    {
        if (_buffer.Length - _length < n)
        {
            Flush(force: false);
            if (_buffer.Length - _length < n)
            {
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + n));
            }
        }
        return _buffer.AsSpan(_length);
    }

    public void Flush(bool force = true)
    {
        if (_length > 0)
        {
            output.Write(_buffer, 0, _length);
            _length = 0;
        }
        if (force)
        {
            output.Flush();
        }
    }

    /// <summary>Flushes when the buffer is mostly full; call between rows.</summary>
    public void MaybeFlush()
    {
        if (_length > _buffer.Length - 4096)
        {
            Flush(force: false);
        }
    }

    public void Raw(ReadOnlySpan<byte> utf8)
    {
        utf8.CopyTo(Reserve(utf8.Length));
        _length += utf8.Length;
    }

    public void Byte(byte b)
    {
        // Small enough to be inlined into the callers' loops: separators are a third of what CSV writes.
        var buffer = _buffer;
        var length = _length;
        if ((uint)length < (uint)buffer.Length)
        {
            buffer[length] = b;
            _length = length + 1;
            return;
        }
        Reserve(1)[0] = b;
        _length++;
    }

    public void Text(string s)
    {
        // Reserve first, on its own: it may flush and reset the length, which `_length += …(Reserve(n))` would
        // have read before the call and then added to.
        var span = Reserve(Encoding.UTF8.GetMaxByteCount(s.Length));
        _length += Encoding.UTF8.GetBytes(s, span);
    }

    public void Number(ulong v)
    {
        var span = Reserve(20);
        if (v < 10)
        {
            // Most values in flow text are small (ports, protocols, flags, VLANs): one digit without the formatter.
            span[0] = (byte)('0' + v);
            _length++;
            return;
        }
        Utf8Formatter.TryFormat(v, span, out var n);
        _length += n;
    }

    public void Number(long v)
    {
        Utf8Formatter.TryFormat(v, Reserve(20), out var n);
        _length += n;
    }

    public void Address(in FlowAddress a)
    {
        if (a.IsV4)
        {
            var s = Reserve(16);
            var v = a.V4;
            var n = 0;
            for (var shift = 24; shift >= 0; shift -= 8)
            {
                // Each octet's digits from a table, followed by a dot (the last dot is not counted).
                var digits = Octets[(int)((v >> shift) & 0xFF)];
                s[n] = (byte)digits;
                s[n + 1] = (byte)(digits >> 8);
                s[n + 2] = (byte)(digits >> 16);
                var length = (int)(digits >> 24);
                s[n + length] = (byte)'.';
                n += length + 1;
            }
            _length += n - 1;
            return;
        }
        Span<char> chars = stackalloc char[48];
        a.ToIPAddress().TryFormat(chars, out var written);
        var dst = Reserve(written);
        for (var i = 0; i < written; i++) dst[i] = (byte)chars[i];
        _length += written;
    }

    public void Mac(ulong mac, char separator = ':')
    {
        var dst = Reserve(17);
        var n = 0;
        for (var shift = 40; shift >= 0; shift -= 8)
        {
            var b = (int)(mac >> shift) & 0xFF;
            dst[n++] = Hex[b >> 4];
            dst[n++] = Hex[b & 0xF];
            if (separator != '\0' && shift > 0) dst[n++] = (byte)separator;
        }
        _length += n;
    }

    private static ReadOnlySpan<byte> Hex => "0123456789abcdef"u8;

    /// <summary>The decimal digits of 0-255, three bytes and the length packed in a uint.</summary>
    private static readonly uint[] Octets = [.. Enumerable.Range(0, 256).Select(i =>
    {
        var t = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        uint packed = (uint)t.Length << 24;
        for (var k = 0; k < t.Length; k++) packed |= (uint)t[k] << (8 * k);
        return packed;
    })];

    /// <summary>RFC 3339 UTC with microseconds: 2026-11-21T06:28:54.984062Z.</summary>
    public void Time(long unixMicros)
    {
        var dt = DateTime.UnixEpoch.AddTicks(FlowTime.Clamp(unixMicros) * 10);
        dt.TryFormat(Reserve(32), out var n, "yyyy-MM-ddTHH:mm:ss.ffffffZ", System.Globalization.CultureInfo.InvariantCulture);
        _length += n;
    }
}
