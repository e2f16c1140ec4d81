using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Flowline.Wire.Ipfix;

/// <summary>
/// Reads one data record into value slots, following its compiled template. The per-field work is a
/// load and a byte swap; what the values mean is worked out once per record by <see cref="DataSetDecoder"/>.
/// </summary>
internal static class DataRecordDecoder
{
    /// <summary>Reads one record; returns the bytes it used, or -1 when it does not fit in <paramref name="p"/>.</summary>
    public static int Read(Template t, ReadOnlySpan<byte> p, ref RecordSlots s)
    {
        var length = t.RecordLength;
        if (length >= 0)
        {
            if (p.Length < length) return -1;
            var record = p[..length];
            foreach (ref readonly var op in t.U32Ops.AsSpan())
            {
                s[(int)op.Kind] = BinaryPrimitives.ReadUInt32BigEndian(record[op.Offset..]);
            }
            foreach (ref readonly var op in t.U16Ops.AsSpan())
            {
                s[(int)op.Kind] = BinaryPrimitives.ReadUInt16BigEndian(record[op.Offset..]);
            }
            foreach (ref readonly var op in t.U8Ops.AsSpan())
            {
                s[(int)op.Kind] = record[op.Offset];
            }
            foreach (ref readonly var op in t.U64Ops.AsSpan())
            {
                s[(int)op.Kind] = BinaryPrimitives.ReadUInt64BigEndian(record[op.Offset..]);
            }
            foreach (ref readonly var op in t.OtherOps.AsSpan())
            {
                Store(in op, record.Slice(op.Offset, op.Length), ref s);
            }
            return length;
        }
        return ReadVariable(t, p, ref s);
    }

    private static int ReadVariable(Template t, ReadOnlySpan<byte> p, ref RecordSlots s)
    {
        // A field whose actual length does not suit its kind is skipped, so clear what a previous record left.
        ((Span<ulong>)s).Clear();
        var offset = 0;
        foreach (ref readonly var op in t.Ops.AsSpan())
        {
            int length = op.Length;
            if (length == FieldSpec.VariableLength)
            {
                // RFC 7011 7: one length octet, or 255 followed by a two-octet length.
                if (offset >= p.Length) return -1;
                length = p[offset++];
                if (length == 255)
                {
                    if (p.Length - offset < 2) return -1;
                    length = BinaryPrimitives.ReadUInt16BigEndian(p[offset..]);
                    offset += 2;
                }
                if (p.Length - offset < length) return -1;
                if (FieldKinds.Usable(op.Kind, length))
                {
                    var actual = op with { Length = (ushort)length, Mode = length switch { 1 => ReadMode.U8, 2 => ReadMode.U16, 4 => ReadMode.U32, 8 => ReadMode.U64, 16 => ReadMode.Address16, _ => ReadMode.UOther } };
                    Store(in actual, p.Slice(offset, length), ref s);
                }
            }
            else
            {
                if (p.Length - offset < length) return -1;
                if (op.Kind != FieldKind.Ignore) Store(in op, p.Slice(offset, length), ref s);
            }
            offset += length;
        }
        return offset;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(in FieldOp op, ReadOnlySpan<byte> v, ref RecordSlots s)
    {
        switch (op.Mode)
        {
            case ReadMode.U8: s[(int)op.Kind] = v[0]; break;
            case ReadMode.U16: s[(int)op.Kind] = BinaryPrimitives.ReadUInt16BigEndian(v); break;
            case ReadMode.U32: s[(int)op.Kind] = BinaryPrimitives.ReadUInt32BigEndian(v); break;
            case ReadMode.U64: s[(int)op.Kind] = BinaryPrimitives.ReadUInt64BigEndian(v); break;
            case ReadMode.Address16:
                s[(int)op.Kind] = BinaryPrimitives.ReadUInt64BigEndian(v);
                s[(int)op.Low] = BinaryPrimitives.ReadUInt64BigEndian(v[8..]);
                break;
            case ReadMode.Float32:
                s[(int)op.Kind] = (ulong)BitConverter.DoubleToInt64Bits(BinaryPrimitives.ReadSingleBigEndian(v));
                break;
            default:
            {
                // Reduced-size encoding (RFC 7011 6.2): any length, big-endian; the low 8 octets are kept.
                ulong value = 0;
                for (var i = v.Length > 8 ? v.Length - 8 : 0; i < v.Length; i++) value = (value << 8) | v[i];
                s[(int)op.Kind] = value;
                break;
            }
        }
    }
}
