using System.Runtime.CompilerServices;
using Flowline.Records;

namespace Flowline.Wire.Ipfix;

/// <summary>One field specifier of a template. <see cref="Length"/> is 0xFFFF for IPFIX variable-length fields.</summary>
public readonly record struct FieldSpec(ushort Id, ushort Length, uint Enterprise)
{
    public const ushort VariableLength = 0xFFFF;
    public bool IsVariable => Length == VariableLength;
    internal FieldKind Kind => FieldKinds.For(Id, Enterprise);
}

/// <summary>How a field's octets become a slot value.</summary>
internal enum ReadMode : byte
{
    U8,
    U16,
    U32,
    U64,
    /// <summary>Another length up to 8 octets (reduced-size encoding).</summary>
    UOther,
    /// <summary>A 16-byte address: high and low halves in two slots.</summary>
    Address16,
    /// <summary>An IEEE float32 stored as float64 bits.</summary>
    Float32,
}

/// <summary>One used field of a record: where it is (fixed layouts), how to read it, which slot it fills.</summary>
internal readonly record struct FieldOp(ushort Offset, ushort Length, FieldKind Kind, FieldKind Low, ReadMode Mode);

/// <summary>Values of one data record, one slot per <see cref="FieldKind"/>.</summary>
[InlineArray((int)FieldKind.Count)]
internal struct RecordSlots
{
    private ulong _element0;
}

/// <summary>
/// A NetFlow v9 or IPFIX (options) template, compiled once into the list of fields a data record
/// decode has to visit and the set of kinds its records carry.
/// </summary>
public sealed class Template
{
    private readonly ulong _presentLow;
    private readonly ulong _presentHigh;

    public Template(FlowProtocol protocol, ushort id, FieldSpec[] fields, int scopeFieldCount, bool isOptions)
    {
        Protocol = protocol;
        Id = id;
        Fields = fields;
        ScopeFieldCount = scopeFieldCount;
        IsOptions = isOptions;
        var fixedLength = 0;
        var minLength = 0;
        var variable = false;
        var ops = new List<FieldOp>();
        var allOps = new FieldOp[fields.Length];
        for (var i = 0; i < fields.Length; i++)
        {
            // Scope fields of options templates describe what the options apply to; they carry no flow data.
            var kind = isOptions && i < scopeFieldCount ? FieldKind.Ignore : fields[i].Kind;
            var length = fields[i].Length;
            if (fields[i].IsVariable)
            {
                variable = true;
                minLength += 1;
            }
            else
            {
                if (!FieldKinds.Usable(kind, length)) kind = FieldKind.Ignore;
                minLength += length;
            }
            var op = new FieldOp((ushort)fixedLength, length, kind, FieldKinds.LowHalf(kind), Mode(kind, length));
            allOps[i] = op;
            if (kind != FieldKind.Ignore)
            {
                ops.Add(op);
                if ((int)kind < 64) _presentLow |= 1UL << (int)kind; else _presentHigh |= 1UL << ((int)kind - 64);
            }
            if (!fields[i].IsVariable) fixedLength += length;
        }
        RecordLength = variable ? -1 : fixedLength;
        MinRecordLength = minLength;
        Ops = variable ? allOps : [.. ops];
        // Fixed layouts are read by width, one tight loop per width, without a branch per field.
        U8Ops = ops.Where(o => o.Mode == ReadMode.U8).ToArray();
        U16Ops = ops.Where(o => o.Mode == ReadMode.U16).ToArray();
        U32Ops = ops.Where(o => o.Mode == ReadMode.U32).ToArray();
        U64Ops = ops.Where(o => o.Mode == ReadMode.U64).ToArray();
        OtherOps = ops.Where(o => o.Mode is not (ReadMode.U8 or ReadMode.U16 or ReadMode.U32 or ReadMode.U64)).ToArray();
    }

    internal FieldOp[] U8Ops { get; }
    internal FieldOp[] U16Ops { get; }
    internal FieldOp[] U32Ops { get; }
    internal FieldOp[] U64Ops { get; }
    internal FieldOp[] OtherOps { get; }

    private static ReadMode Mode(FieldKind kind, int length)
    {
        if (kind == FieldKind.SamplingProbability && length == 4) return ReadMode.Float32;
        return length switch
        {
            1 => ReadMode.U8,
            2 => ReadMode.U16,
            4 => ReadMode.U32,
            8 => ReadMode.U64,
            16 => ReadMode.Address16,
            _ => ReadMode.UOther,
        };
    }

    public FlowProtocol Protocol { get; }
    public ushort Id { get; }
    public FieldSpec[] Fields { get; }
    public int ScopeFieldCount { get; }
    public bool IsOptions { get; }
    /// <summary>The data record length, or -1 when the template has variable-length fields.</summary>
    public int RecordLength { get; }
    /// <summary>The shortest possible data record (each variable-length field at one length octet).</summary>
    public int MinRecordLength { get; }
    public bool IsVariable => RecordLength < 0;

    /// <summary>
    /// Fixed layouts: the used fields only, with their offsets. Variable layouts: every field in order
    /// (offsets are found while reading).
    /// </summary>
    internal FieldOp[] Ops { get; }

    /// <summary>Whether the template's records carry a field of this kind.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Has(FieldKind kind) =>
        (int)kind < 64 ? (_presentLow & (1UL << (int)kind)) != 0 : (_presentHigh & (1UL << ((int)kind - 64))) != 0;
}
