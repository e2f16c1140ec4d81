using Flowline.Wire.Records;

namespace Flowline.Wire.Ipfix;

/// <summary>One field specifier of a template. <see cref="Length"/> is 0xFFFF for IPFIX variable-length fields.</summary>
public readonly record struct FieldSpec(ushort Id, ushort Length, uint Enterprise)
{
    public const ushort VariableLength = 0xFFFF;
    public bool IsVariable => Length == VariableLength;
    internal FieldKind Kind => FieldKinds.For(Id, Enterprise);
}

/// <summary>A NetFlow v9 or IPFIX (options) template, with each field's action resolved once.</summary>
public sealed class Template
{
    public Template(FlowProtocol protocol, ushort id, FieldSpec[] fields, int scopeFieldCount, bool isOptions)
    {
        Protocol = protocol;
        Id = id;
        Fields = fields;
        ScopeFieldCount = scopeFieldCount;
        IsOptions = isOptions;
        Kinds = new FieldKind[fields.Length];
        var fixedLength = 0;
        var minLength = 0;
        var variable = false;
        for (var i = 0; i < fields.Length; i++)
        {
            // Scope fields of options templates describe what the options apply to; they carry no flow data.
            Kinds[i] = isOptions && i < scopeFieldCount ? FieldKind.Ignore : fields[i].Kind;
            if (fields[i].IsVariable)
            {
                variable = true;
                minLength += 1;
            }
            else
            {
                fixedLength += fields[i].Length;
                minLength += fields[i].Length;
            }
        }
        RecordLength = variable ? -1 : fixedLength;
        MinRecordLength = minLength;
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
    internal FieldKind[] Kinds { get; }

    public bool SameLayout(Template other) =>
        IsOptions == other.IsOptions && ScopeFieldCount == other.ScopeFieldCount && Fields.AsSpan().SequenceEqual(other.Fields);
}
