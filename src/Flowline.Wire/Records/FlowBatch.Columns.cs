using System.Runtime.InteropServices;

namespace Flowline.Wire.Records;

/// <summary>Raw access to whole columns, for storage engines that write and read them as bytes.</summary>
public sealed partial class FlowBatch
{
    /// <summary>Makes room for at least <paramref name="rows"/> rows.</summary>
    public void EnsureCapacity(int rows)
    {
        if (rows > _capacity)
        {
            Grow(Math.Max(rows, _capacity * 2));
        }
    }

    /// <summary>Sets the row count after columns were filled through <see cref="ColumnBytes"/>.</summary>
    public void SetCount(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, _capacity);
        Count = rows;
    }

    /// <summary>
    /// The in-memory bytes of the first <paramref name="rows"/> values of a column (little-endian;
    /// addresses as two ulongs). Writable, so a reader can fill a column in one copy.
    /// </summary>
    public Span<byte> ColumnBytes(FlowField field, int rows)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, _capacity);
        return field switch
        {
            FlowField.TimeReceived => B(TimeReceived, rows),
            FlowField.Start => B(Start, rows),
            FlowField.End => B(End, rows),
            FlowField.Protocol => B(Protocol, rows),
            FlowField.Exporter => B(Exporter, rows),
            FlowField.ObsDomain => B(ObsDomain, rows),
            FlowField.ObsPoint => B(ObsPoint, rows),
            FlowField.SamplingRate => B(SamplingRate, rows),
            FlowField.InIf => B(InIf, rows),
            FlowField.OutIf => B(OutIf, rows),
            FlowField.SrcAddr => B(SrcAddr, rows),
            FlowField.DstAddr => B(DstAddr, rows),
            FlowField.SrcPort => B(SrcPort, rows),
            FlowField.DstPort => B(DstPort, rows),
            FlowField.IpProto => B(IpProto, rows),
            FlowField.TcpFlags => B(TcpFlags, rows),
            FlowField.Tos => B(Tos, rows),
            FlowField.Vlan => B(Vlan, rows),
            FlowField.PostVlan => B(PostVlan, rows),
            FlowField.SrcMac => B(SrcMac, rows),
            FlowField.DstMac => B(DstMac, rows),
            FlowField.Bytes => B(Bytes, rows),
            FlowField.Packets => B(Packets, rows),
            FlowField.SampledBytes => B(SampledBytes, rows),
            FlowField.SampledPackets => B(SampledPackets, rows),
            FlowField.IpVersion => B(IpVersion, rows),
            FlowField.EtherType => B(EtherType, rows),
            FlowField.IcmpType => B(IcmpType, rows),
            FlowField.IcmpCode => B(IcmpCode, rows),
            FlowField.Direction => B(Direction, rows),
            FlowField.EndReason => B(EndReason, rows),
            FlowField.ForwardingStatus => B(ForwardingStatus, rows),
            FlowField.NextHop => B(NextHop, rows),
            FlowField.SrcAs => B(SrcAs, rows),
            FlowField.DstAs => B(DstAs, rows),
            FlowField.SrcMask => B(SrcMask, rows),
            FlowField.DstMask => B(DstMask, rows),
            FlowField.Tunnel => B(Tunnel, rows),
            FlowField.TunnelId => B(TunnelId, rows),
            FlowField.UnderlayProto => B(UnderlayProto, rows),
            FlowField.UnderlaySrcPort => B(UnderlaySrcPort, rows),
            FlowField.UnderlaySrc => B(UnderlaySrc, rows),
            FlowField.UnderlayDst => B(UnderlayDst, rows),
            _ => throw new ArgumentOutOfRangeException(nameof(field), field, null),
        };
    }

    /// <summary>Appends rows [start, start + count) of <paramref name="source"/>, column by column.</summary>
    public void AppendRange(FlowBatch source, int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)start + count, source.Count);
        EnsureCapacity(Count + count);
        foreach (var field in AllFields)
        {
            var size = ValueSizes[(int)field];
            source.ColumnBytes(field, start + count)[(start * size)..].CopyTo(ColumnBytes(field, Count + count)[(Count * size)..]);
        }
        Count += count;
    }

    private static readonly FlowField[] AllFields = Enum.GetValues<FlowField>();

    private static readonly int[] ValueSizes = ComputeValueSizes();

    private static int[] ComputeValueSizes()
    {
        var probe = new FlowBatch(16);
        return Enum.GetValues<FlowField>().Select(f => probe.ColumnBytes(f, 1).Length).ToArray();
    }

    /// <summary>Bytes one value of a column takes.</summary>
    public static int ValueSize(FlowField field) => ValueSizes[(int)field];

    private static Span<byte> B<T>(T[] column, int rows) where T : struct => MemoryMarshal.AsBytes(column.AsSpan(0, rows));
}
