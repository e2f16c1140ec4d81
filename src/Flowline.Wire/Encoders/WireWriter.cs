using System.Buffers.Binary;
using Flowline.Records;

namespace Flowline.Wire.Encoders;

/// <summary>Big-endian writer over a caller's buffer; throws when the buffer is too small (encoders size it).</summary>
public ref struct WireWriter(Span<byte> buffer)
{
    private readonly Span<byte> _buffer = buffer;

    public int Position { get; set; }

    public readonly Span<byte> Written => _buffer[..Position];

    public readonly Span<byte> At(int offset) => _buffer[offset..];

    public void U8(byte v) => _buffer[Position++] = v;

    public void U16(ushort v)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_buffer[Position..], v);
        Position += 2;
    }

    public void U32(uint v)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_buffer[Position..], v);
        Position += 4;
    }

    public void U64(ulong v)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_buffer[Position..], v);
        Position += 8;
    }

    public void Bytes(scoped ReadOnlySpan<byte> v)
    {
        v.CopyTo(_buffer[Position..]);
        Position += v.Length;
    }

    public void Zeros(int n)
    {
        _buffer.Slice(Position, n).Clear();
        Position += n;
    }

    public void V4(in FlowAddress a) => U32(a.V4);

    public void V6(in FlowAddress a)
    {
        a.WriteV6(_buffer[Position..]);
        Position += 16;
    }

    public void Mac(ulong mac)
    {
        MacAddress.Write(mac, _buffer[Position..]);
        Position += 6;
    }

    /// <summary>Pads with zeros to a multiple of four (XDR).</summary>
    public void Align4()
    {
        while (Position % 4 != 0) U8(0);
    }
}
