namespace Flowline.Wire.Ovsdb;

/// <summary>
/// Splits a JSON-RPC byte stream (RFC 7047 section 4: JSON texts one after another, with no framing of
/// their own) into whole messages. Each message is a JSON object; the framer follows strings and escapes
/// to find where it ends, and refuses a message deeper than <see cref="MaxDepth"/> or longer than
/// its <c>maxBytes</c> (a peer that sends one is broken or hostile: the connection should end).
/// </summary>
public sealed class JsonRpcFramer(int maxBytes = JsonRpcFramer.DefaultMaxBytes)
{
    public const int DefaultMaxBytes = 16 << 20;
    public const int MaxDepth = 64;

    private byte[] _buffer = new byte[64 << 10];
    private int _length;
    /// <summary>Scan state, kept between reads so that a message arriving in pieces is scanned once.</summary>
    private int _scanned, _depth, _start = -1;
    private bool _inString, _escape;

    /// <summary>Room for the next read (at least 4 KiB).</summary>
    public Memory<byte> Room()
    {
        if (_buffer.Length - _length < 4096) Array.Resize(ref _buffer, Math.Min(Math.Max(_buffer.Length * 2, _length + 4096), maxBytes + 4096));
        return _buffer.AsMemory(_length);
    }

    /// <summary>Takes <paramref name="count"/> bytes read into <see cref="Room"/>.</summary>
    public void Advance(int count) => _length += count;

    /// <summary>The next whole message, or false when more bytes are needed.</summary>
    /// <exception cref="FormatException">Too long, too deep, or not a JSON object.</exception>
    public bool TryNext(out ReadOnlyMemory<byte> message)
    {
        message = default;
        for (; _scanned < _length; _scanned++)
        {
            var b = _buffer[_scanned];
            if (_start < 0)
            {
                if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') continue;
                if (b != (byte)'{') throw new FormatException($"a JSON-RPC message is an object; found '{(char)b}'");
                _start = _scanned;
            }
            if (_inString)
            {
                if (_escape) _escape = false;
                else if (b == (byte)'\\') _escape = true;
                else if (b == (byte)'"') _inString = false;
                continue;
            }
            switch (b)
            {
                case (byte)'"':
                    _inString = true;
                    break;
                case (byte)'{' or (byte)'[':
                    if (++_depth > MaxDepth) throw new FormatException($"a JSON-RPC message nested deeper than {MaxDepth}");
                    break;
                case (byte)'}' or (byte)']':
                    if (--_depth == 0)
                    {
                        var end = _scanned + 1;
                        message = _buffer.AsSpan(_start, end - _start).ToArray();
                        // Keep what follows the message at the front of the buffer.
                        Buffer.BlockCopy(_buffer, end, _buffer, 0, _length - end);
                        _length -= end;
                        (_scanned, _start) = (0, -1);
                        return true;
                    }
                    break;
            }
        }
        if (_start >= 0 && _length - _start > maxBytes) throw new FormatException($"a JSON-RPC message longer than {maxBytes} bytes");
        if (_start > 0)
        {
            // Whitespace before a message that is still arriving: drop it.
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _length - _start);
            (_length, _scanned, _start) = (_length - _start, _scanned - _start, 0);
        }
        else if (_start < 0) (_length, _scanned) = (0, 0);
        return false;
    }
}
