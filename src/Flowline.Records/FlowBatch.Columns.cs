using System.Runtime.InteropServices;

namespace Flowline.Records;

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
        _zeroGroups &= ~GroupOf(field);
        return Raw(field, rows);
    }

    /// <summary>The in-memory bytes of the first <paramref name="rows"/> values of a column, for reading.</summary>
    public ReadOnlySpan<byte> ColumnValues(FlowField field, int rows) => Raw(field, rows);

    private Span<byte> Raw(FlowField field, int rows)
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
            FlowField.Account => B(Account, rows),
            FlowField.Vmi => B(Vmi, rows),
            FlowField.VmiDirection => B(VmiDirection, rows),
            FlowField.SrcVn => B(SrcVn, rows),
            FlowField.DstVn => B(DstVn, rows),
            FlowField.Action => B(Action, rows),
            FlowField.SgRule => B(SgRule, rows),
            FlowField.App => B(App, rows),
            FlowField.Tier => B(Tier, rows),
            FlowField.Site => B(Site, rows),
            FlowField.Deployment => B(Deployment, rows),
            FlowField.SrcCountry => B(SrcCountry, rows),
            FlowField.DstCountry => B(DstCountry, rows),
            FlowField.SessionFlags => B(SessionFlags, rows),
            FlowField.SetupTime => B(SetupTime, rows),
            FlowField.TeardownTime => B(TeardownTime, rows),
            FlowField.RevBytes => B(RevBytes, rows),
            FlowField.RevPackets => B(RevPackets, rows),
            FlowField.LoggedBytes => B(LoggedBytes, rows),
            FlowField.LoggedPackets => B(LoggedPackets, rows),
            FlowField.LoggedRevBytes => B(LoggedRevBytes, rows),
            FlowField.LoggedRevPackets => B(LoggedRevPackets, rows),
            FlowField.RevTcpFlags => B(RevTcpFlags, rows),
            FlowField.RevAction => B(RevAction, rows),
            FlowField.RevSgRule => B(RevSgRule, rows),
            FlowField.RemoteApp => B(RemoteApp, rows),
            FlowField.RemoteTier => B(RemoteTier, rows),
            FlowField.RemoteSite => B(RemoteSite, rows),
            FlowField.RemoteDeployment => B(RemoteDeployment, rows),
            FlowField.RemotePrefix => B(RemotePrefix, rows),
            FlowField.IpFragment => B(IpFragment, rows),
            _ => throw new ArgumentOutOfRangeException(nameof(field), field, null),
        };
    }

    /// <summary>Appends rows [start, start + count) of <paramref name="source"/>, column by column.</summary>
    public void AppendRange(FlowBatch source, int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)start + count, source.Count);
        EnsureCapacity(Count + count);
        // A group zero in both stays zero: nothing to copy.
        var zero = _zeroGroups & source._zeroGroups;
        foreach (var field in AllFields)
        {
            if ((zero & GroupOf(field)) != 0) continue;
            var size = ValueSizes[(int)field];
            source.ColumnValues(field, start + count)[(start * size)..].CopyTo(ColumnBytes(field, Count + count)[(Count * size)..]);
        }
        Count += count;
    }

    /// <summary>
    /// Appends, for each k, row <paramref name="rows"/>[k] of <paramref name="sources"/>[<paramref name="from"/>[k]],
    /// column by column (a merge or a sort moves millions of rows this way without touching records), as the
    /// k-th new row, or as the <paramref name="targets"/>[k]-th when targets are given (a permutation of the
    /// new rows' numbers: the picks can then come in the order that reads the sources best).
    /// </summary>
    public void AppendGathered(IReadOnlyList<FlowBatch> sources, ReadOnlySpan<int> from, ReadOnlySpan<int> rows, ReadOnlySpan<int> targets = default)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(from.Length, rows.Length);
        if (!targets.IsEmpty) ArgumentOutOfRangeException.ThrowIfNotEqual(targets.Length, rows.Length);
        var n = rows.Length;
        EnsureCapacity(Count + n);
        // Group the picks by source, keeping their output positions (in the thread's scratch: a merge calls
        // this for every block, and garbage at that rate is memory the collector holds before it reclaims).
        var fill = Scratch(ref t_gatherFill, sources.Count);
        fill.Clear();
        foreach (var s in from) fill[s]++;
        for (int s = 0, sum = 0; s < fill.Length; s++) (fill[s], sum) = (sum, sum + fill[s]);
        var srcRows = Scratch(ref t_gatherSource, n);
        var dstRows = Scratch(ref t_gatherTarget, n);
        for (var k = 0; k < n; k++)
        {
            var at = fill[from[k]]++;
            srcRows[at] = rows[k];
            var target = targets.IsEmpty ? k : targets[k];
            if ((uint)target >= (uint)n) throw new ArgumentOutOfRangeException(nameof(targets));
            dstRows[at] = Count + target;
        }
        var zero = _zeroGroups;
        foreach (var source in sources) zero &= source._zeroGroups;
        foreach (var field in AllFields)
        {
            if ((zero & GroupOf(field)) != 0) continue;
            var size = ValueSizes[(int)field];
            var dst = ColumnBytes(field, Count + n);
            for (var s = 0; s < sources.Count; s++)
            {
                var begin = s == 0 ? 0 : fill[s - 1];
                var end = fill[s];
                if (end == begin) continue;
                var src = sources[s].ColumnValues(field, sources[s].Count);
                var sr = srcRows.Slice(begin, end - begin);
                var dr = dstRows.Slice(begin, end - begin);
                switch (size)
                {
                    case 1: Copy<byte>(src, dst, sr, dr); break;
                    case 2: Copy<ushort>(src, dst, sr, dr); break;
                    case 4: Copy<uint>(src, dst, sr, dr); break;
                    case 8: Copy<ulong>(src, dst, sr, dr); break;
                    case 16: Copy<UInt128>(src, dst, sr, dr); break;
                    default:
                        for (var k = 0; k < sr.Length; k++) src.Slice(sr[k] * size, size).CopyTo(dst[(dr[k] * size)..]);
                        break;
                }
            }
        }
        Count += n;
    }

    [ThreadStatic] private static int[]? t_gatherFill, t_gatherSource, t_gatherTarget;

    /// <summary>
    /// The first <paramref name="length"/> elements of a scratch array kept by the caller (a thread-static
    /// field, typically), grown when too short: hot loops that need working space every call allocate once.
    /// </summary>
    public static Span<T> Scratch<T>(ref T[]? array, int length)
    {
        if (array is null || array.Length < length) array = new T[Math.Max(length, 1024)];
        return array.AsSpan(0, length);
    }

    private static void Copy<T>(ReadOnlySpan<byte> src, Span<byte> dst, ReadOnlySpan<int> srcRows, ReadOnlySpan<int> dstRows) where T : unmanaged
    {
        var s = MemoryMarshal.Cast<byte, T>(src);
        var d = MemoryMarshal.Cast<byte, T>(dst);
        for (var k = 0; k < srcRows.Length; k++) d[dstRows[k]] = s[srcRows[k]];
    }

    /// <summary>Every field in numeric order (no Enum.GetValues: a generic that every command would compile at start).</summary>
    private static readonly FlowField[] AllFields = AllInOrder();

    private static FlowField[] AllInOrder()
    {
        var all = new FlowField[(int)FlowField.IpFragment + 1];
        for (var i = 0; i < all.Length; i++) all[i] = (FlowField)i;
        return all;
    }

    /// <summary>Every field, in numeric (storage) order.</summary>
    public static ReadOnlySpan<FlowField> Fields => AllFields;

    private static readonly int[] ValueSizes = ComputeValueSizes();

    private static int[] ComputeValueSizes()
    {
        var probe = new FlowBatch(16);
        var sizes = new int[AllFields.Length];
        for (var i = 0; i < sizes.Length; i++) sizes[i] = probe.ColumnBytes(AllFields[i], 1).Length;
        return sizes;
    }

    /// <summary>Bytes one value of a column takes.</summary>
    public static int ValueSize(FlowField field) => ValueSizes[(int)field];

    private static Span<byte> B<T>(T[] column, int rows) where T : struct => MemoryMarshal.AsBytes(column.AsSpan(0, rows));
}
