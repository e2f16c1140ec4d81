namespace Flowline.Wire.Records;

/// <summary>
/// A column-per-field batch of canonical flow records. Columns grow by doubling and are reused after
/// <see cref="Clear"/>, so filling a batch allocates nothing in steady state.
/// </summary>
public sealed class FlowBatch
{
    private int _capacity;

    public FlowBatch(int capacity = 1024)
    {
        _capacity = 0;
        Grow(Math.Max(16, capacity));
    }

    public int Count { get; private set; }

    public long[] TimeReceived = [], Start = [], End = [];
    public FlowProtocol[] Protocol = [];
    public FlowAddress[] Exporter = [], SrcAddr = [], DstAddr = [], NextHop = [], UnderlaySrc = [], UnderlayDst = [];
    public uint[] ObsDomain = [], ObsPoint = [], SamplingRate = [], InIf = [], OutIf = [], SrcAs = [], DstAs = [], TunnelId = [];
    public byte[] IpVersion = [], IpProto = [], Tos = [], IcmpType = [], IcmpCode = [], Direction = [], EndReason = [],
        ForwardingStatus = [], SrcMask = [], DstMask = [], UnderlayProto = [];
    public ushort[] SrcPort = [], DstPort = [], TcpFlags = [], Vlan = [], PostVlan = [], EtherType = [], UnderlaySrcPort = [];
    public ulong[] SrcMac = [], DstMac = [], Bytes = [], Packets = [], SampledBytes = [], SampledPackets = [];
    public TunnelKind[] Tunnel = [];

    public void Clear() => Count = 0;

    public void Add(in FlowRecord r)
    {
        if (Count == _capacity)
        {
            Grow(_capacity * 2);
        }
        var i = Count++;
        TimeReceived[i] = r.TimeReceived; Start[i] = r.Start; End[i] = r.End;
        Protocol[i] = r.Protocol; Exporter[i] = r.Exporter; ObsDomain[i] = r.ObsDomain; ObsPoint[i] = r.ObsPoint;
        SamplingRate[i] = r.SamplingRate; InIf[i] = r.InIf; OutIf[i] = r.OutIf;
        SrcAddr[i] = r.SrcAddr; DstAddr[i] = r.DstAddr; NextHop[i] = r.NextHop;
        IpVersion[i] = r.IpVersion; IpProto[i] = r.IpProto; SrcPort[i] = r.SrcPort; DstPort[i] = r.DstPort;
        TcpFlags[i] = r.TcpFlags; Tos[i] = r.Tos; IcmpType[i] = r.IcmpType; IcmpCode[i] = r.IcmpCode;
        Direction[i] = r.Direction; EndReason[i] = r.EndReason; ForwardingStatus[i] = r.ForwardingStatus;
        Vlan[i] = r.Vlan; PostVlan[i] = r.PostVlan; EtherType[i] = r.EtherType; SrcMac[i] = r.SrcMac; DstMac[i] = r.DstMac;
        SrcAs[i] = r.SrcAs; DstAs[i] = r.DstAs; SrcMask[i] = r.SrcMask; DstMask[i] = r.DstMask;
        Bytes[i] = r.Bytes; Packets[i] = r.Packets; SampledBytes[i] = r.SampledBytes; SampledPackets[i] = r.SampledPackets;
        Tunnel[i] = r.Tunnel; TunnelId[i] = r.TunnelId; UnderlayProto[i] = r.UnderlayProto;
        UnderlaySrcPort[i] = r.UnderlaySrcPort; UnderlaySrc[i] = r.UnderlaySrc; UnderlayDst[i] = r.UnderlayDst;
    }

    public FlowRecord this[int i]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)i, (uint)Count);
            return new FlowRecord
            {
                TimeReceived = TimeReceived[i], Start = Start[i], End = End[i],
                Protocol = Protocol[i], Exporter = Exporter[i], ObsDomain = ObsDomain[i], ObsPoint = ObsPoint[i],
                SamplingRate = SamplingRate[i], InIf = InIf[i], OutIf = OutIf[i],
                SrcAddr = SrcAddr[i], DstAddr = DstAddr[i], NextHop = NextHop[i],
                IpVersion = IpVersion[i], IpProto = IpProto[i], SrcPort = SrcPort[i], DstPort = DstPort[i],
                TcpFlags = TcpFlags[i], Tos = Tos[i], IcmpType = IcmpType[i], IcmpCode = IcmpCode[i],
                Direction = Direction[i], EndReason = EndReason[i], ForwardingStatus = ForwardingStatus[i],
                Vlan = Vlan[i], PostVlan = PostVlan[i], EtherType = EtherType[i], SrcMac = SrcMac[i], DstMac = DstMac[i],
                SrcAs = SrcAs[i], DstAs = DstAs[i], SrcMask = SrcMask[i], DstMask = DstMask[i],
                Bytes = Bytes[i], Packets = Packets[i], SampledBytes = SampledBytes[i], SampledPackets = SampledPackets[i],
                Tunnel = Tunnel[i], TunnelId = TunnelId[i], UnderlayProto = UnderlayProto[i],
                UnderlaySrcPort = UnderlaySrcPort[i], UnderlaySrc = UnderlaySrc[i], UnderlayDst = UnderlayDst[i],
            };
        }
    }

    private void Grow(int capacity)
    {
        static void Resize<T>(ref T[] a, int n) => Array.Resize(ref a, n);
        Resize(ref TimeReceived, capacity); Resize(ref Start, capacity); Resize(ref End, capacity);
        Resize(ref Protocol, capacity); Resize(ref Exporter, capacity); Resize(ref SrcAddr, capacity);
        Resize(ref DstAddr, capacity); Resize(ref NextHop, capacity); Resize(ref UnderlaySrc, capacity);
        Resize(ref UnderlayDst, capacity); Resize(ref ObsDomain, capacity); Resize(ref ObsPoint, capacity);
        Resize(ref SamplingRate, capacity); Resize(ref InIf, capacity); Resize(ref OutIf, capacity);
        Resize(ref SrcAs, capacity); Resize(ref DstAs, capacity); Resize(ref TunnelId, capacity);
        Resize(ref IpVersion, capacity); Resize(ref IpProto, capacity); Resize(ref Tos, capacity);
        Resize(ref IcmpType, capacity); Resize(ref IcmpCode, capacity); Resize(ref Direction, capacity);
        Resize(ref EndReason, capacity); Resize(ref ForwardingStatus, capacity); Resize(ref SrcMask, capacity);
        Resize(ref DstMask, capacity); Resize(ref UnderlayProto, capacity); Resize(ref SrcPort, capacity);
        Resize(ref DstPort, capacity); Resize(ref TcpFlags, capacity); Resize(ref Vlan, capacity);
        Resize(ref PostVlan, capacity); Resize(ref EtherType, capacity); Resize(ref UnderlaySrcPort, capacity);
        Resize(ref SrcMac, capacity); Resize(ref DstMac, capacity); Resize(ref Bytes, capacity);
        Resize(ref Packets, capacity); Resize(ref SampledBytes, capacity); Resize(ref SampledPackets, capacity);
        Resize(ref Tunnel, capacity);
        _capacity = capacity;
    }
}
