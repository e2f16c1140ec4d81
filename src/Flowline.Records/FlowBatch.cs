namespace Flowline.Records;

/// <summary>
/// A column-per-field batch of canonical flow records. Columns grow by doubling and are reused after
/// <see cref="Clear"/>, so filling a batch allocates nothing in steady state.
/// </summary>
public sealed partial class FlowBatch
{
    private int _capacity;

    public FlowBatch(int capacity = 1024)
    {
        _capacity = 0;
        Grow(Math.Max(16, capacity));
    }

    public int Count { get; private set; }

    /// <summary>Rows the columns hold before they grow.</summary>
    public int Capacity => _capacity;

    // Columns are read freely; they are written through Add, AppendRange, AppendGathered or ColumnBytes,
    // which keep track of the column groups known to be zero (see _zeroGroups). Writing an element of a
    // tunnel, tenancy or routing column directly would go unnoticed there.
    public long[] TimeReceived = [], Start = [], End = [];
    public FlowProtocol[] Protocol = [];
    public FlowAddress[] Exporter = [], SrcAddr = [], DstAddr = [], NextHop = [], UnderlaySrc = [], UnderlayDst = [];
    public uint[] ObsDomain = [], ObsPoint = [], SamplingRate = [], InIf = [], OutIf = [], SrcAs = [], DstAs = [], TunnelId = [];
    public byte[] IpVersion = [], IpProto = [], IpFragment = [], Tos = [], IcmpType = [], IcmpCode = [], Direction = [], EndReason = [],
        ForwardingStatus = [], SrcMask = [], DstMask = [], UnderlayProto = [];
    public ushort[] SrcPort = [], DstPort = [], TcpFlags = [], Vlan = [], PostVlan = [], EtherType = [], UnderlaySrcPort = [];
    public ulong[] SrcMac = [], DstMac = [], Bytes = [], Packets = [], SampledBytes = [], SampledPackets = [];
    public TunnelKind[] Tunnel = [];
    public uint[] Account = [], Vmi = [], SrcVn = [], DstVn = [], SgRule = [], App = [], Tier = [], Site = [], Deployment = [];
    public byte[] VmiDirection = [], Action = [];
    public ushort[] SrcCountry = [], DstCountry = [];
    // Session rows (see FlowRecord.SessionFlags).
    public byte[] SessionFlags = [], RevAction = [];
    public long[] SetupTime = [], TeardownTime = [];
    public ulong[] RevBytes = [], RevPackets = [], LoggedBytes = [], LoggedPackets = [], LoggedRevBytes = [], LoggedRevPackets = [];
    public ushort[] RevTcpFlags = [];
    public uint[] RevSgRule = [], RemoteApp = [], RemoteTier = [], RemoteSite = [], RemoteDeployment = [], RemotePrefix = [];

    public void Clear() => Count = 0;

    /*
     Column groups that most exporters never fill: tunnels and underlays; tenancy enrichment (absent without
     an inventory); routing extras (next hop, AS numbers, masks, observation point, post-NAT VLAN); the
     session rows' own columns (zero in every flow record, which has SessionFlags 0). A group's
     bit in _zeroGroups says its columns hold zeros in every row up to the capacity, so Add need not write
     them for a record whose values there are all zero, and a commit knows them constant without reading
     them. Fresh columns are zero; the bit is cleared when Add writes a non-zero value or when a column of
     the group is handed out for writing (ColumnBytes), and Clear keeps it (the zeros are still there).
    */
    private const int TunnelGroup = 1, TenancyGroup = 2, RoutingGroup = 4, SessionGroup = 8, AllGroups = 15;
    private int _zeroGroups = AllGroups;

    /// <summary>True when every row of <paramref name="field"/>'s column, up to the capacity, is known to be zero.</summary>
    public bool IsZeroColumn(FlowField field) => (_zeroGroups & GroupOf(field)) != 0;

    private static int GroupOf(FlowField field) => field switch
    {
        FlowField.Tunnel or FlowField.TunnelId or FlowField.UnderlayProto or FlowField.UnderlaySrcPort
            or FlowField.UnderlaySrc or FlowField.UnderlayDst => TunnelGroup,
        FlowField.Account or FlowField.Vmi or FlowField.VmiDirection or FlowField.SrcVn or FlowField.DstVn or FlowField.Action
            or FlowField.SgRule or FlowField.App or FlowField.Tier or FlowField.Site or FlowField.Deployment
            or FlowField.SrcCountry or FlowField.DstCountry => TenancyGroup,
        FlowField.NextHop or FlowField.SrcAs or FlowField.DstAs or FlowField.SrcMask or FlowField.DstMask
            or FlowField.ObsPoint or FlowField.PostVlan or FlowField.IpFragment => RoutingGroup,
        >= FlowField.SessionFlags => SessionGroup,
        _ => 0,
    };

    public void Add(in FlowRecord r)
    {
        if (Count == _capacity)
        {
            Grow(_capacity * 2);
        }
        var i = Count++;
        // Every column has _capacity elements and i < _capacity, so the writes skip the per-column bounds check.
        At(TimeReceived, i) = r.TimeReceived; At(Start, i) = r.Start; At(End, i) = r.End;
        At(Protocol, i) = r.Protocol; At(Exporter, i) = r.Exporter; At(ObsDomain, i) = r.ObsDomain;
        At(SamplingRate, i) = r.SamplingRate; At(InIf, i) = r.InIf; At(OutIf, i) = r.OutIf;
        At(SrcAddr, i) = r.SrcAddr; At(DstAddr, i) = r.DstAddr;
        At(IpVersion, i) = r.IpVersion; At(IpProto, i) = r.IpProto; At(SrcPort, i) = r.SrcPort; At(DstPort, i) = r.DstPort;
        At(TcpFlags, i) = r.TcpFlags; At(Tos, i) = r.Tos; At(IcmpType, i) = r.IcmpType; At(IcmpCode, i) = r.IcmpCode;
        At(Direction, i) = r.Direction; At(EndReason, i) = r.EndReason; At(ForwardingStatus, i) = r.ForwardingStatus;
        At(Vlan, i) = r.Vlan; At(EtherType, i) = r.EtherType; At(SrcMac, i) = r.SrcMac; At(DstMac, i) = r.DstMac;
        At(Bytes, i) = r.Bytes; At(Packets, i) = r.Packets; At(SampledBytes, i) = r.SampledBytes; At(SampledPackets, i) = r.SampledPackets;
        // Reading a group's values from the record (in cache) is cheaper than storing them into its columns.
        var zero = _zeroGroups;
        if ((zero & RoutingGroup) == 0
            || ((r.NextHop.Hi | r.NextHop.Lo) | (r.SrcAs | r.DstAs | r.ObsPoint | r.PostVlan | r.SrcMask | r.DstMask | r.IpFragment)) != 0)
        {
            _zeroGroups &= ~RoutingGroup;
            At(NextHop, i) = r.NextHop; At(SrcAs, i) = r.SrcAs; At(DstAs, i) = r.DstAs; At(SrcMask, i) = r.SrcMask;
            At(DstMask, i) = r.DstMask; At(ObsPoint, i) = r.ObsPoint; At(PostVlan, i) = r.PostVlan; At(IpFragment, i) = r.IpFragment;
        }
        if ((zero & TunnelGroup) == 0
            || ((r.UnderlaySrc.Hi | r.UnderlaySrc.Lo | r.UnderlayDst.Hi | r.UnderlayDst.Lo)
                | ((uint)r.Tunnel | r.TunnelId | r.UnderlayProto | r.UnderlaySrcPort)) != 0)
        {
            _zeroGroups &= ~TunnelGroup;
            At(Tunnel, i) = r.Tunnel; At(TunnelId, i) = r.TunnelId; At(UnderlayProto, i) = r.UnderlayProto;
            At(UnderlaySrcPort, i) = r.UnderlaySrcPort; At(UnderlaySrc, i) = r.UnderlaySrc; At(UnderlayDst, i) = r.UnderlayDst;
        }
        if ((zero & TenancyGroup) == 0
            || (r.Account | r.Vmi | r.SrcVn | r.DstVn | r.SgRule | r.App | r.Tier | r.Site | r.Deployment
                | r.VmiDirection | r.Action | r.SrcCountry | r.DstCountry) != 0)
        {
            _zeroGroups &= ~TenancyGroup;
            At(Account, i) = r.Account; At(Vmi, i) = r.Vmi; At(VmiDirection, i) = r.VmiDirection; At(SrcVn, i) = r.SrcVn;
            At(DstVn, i) = r.DstVn; At(Action, i) = r.Action; At(SgRule, i) = r.SgRule; At(App, i) = r.App; At(Tier, i) = r.Tier;
            At(Site, i) = r.Site; At(Deployment, i) = r.Deployment; At(SrcCountry, i) = r.SrcCountry; At(DstCountry, i) = r.DstCountry;
        }
        // A flow record (SessionFlags 0) has no session values: one byte tells.
        if ((zero & SessionGroup) == 0 || r.SessionFlags != 0)
        {
            _zeroGroups &= ~SessionGroup;
            At(SessionFlags, i) = r.SessionFlags; At(SetupTime, i) = r.SetupTime; At(TeardownTime, i) = r.TeardownTime;
            At(RevBytes, i) = r.RevBytes; At(RevPackets, i) = r.RevPackets; At(LoggedBytes, i) = r.LoggedBytes;
            At(LoggedPackets, i) = r.LoggedPackets; At(LoggedRevBytes, i) = r.LoggedRevBytes; At(LoggedRevPackets, i) = r.LoggedRevPackets;
            At(RevTcpFlags, i) = r.RevTcpFlags; At(RevAction, i) = r.RevAction; At(RevSgRule, i) = r.RevSgRule;
            At(RemoteApp, i) = r.RemoteApp; At(RemoteTier, i) = r.RemoteTier; At(RemoteSite, i) = r.RemoteSite;
            At(RemoteDeployment, i) = r.RemoteDeployment; At(RemotePrefix, i) = r.RemotePrefix;
        }
    }

    /// <summary>
    /// Writes once to every page of the columns <see cref="Add"/> always fills, up to the capacity, so that
    /// filling the batch later takes no page faults (a fresh page costs the kernel a fault and a zeroing,
    /// microseconds each on a virtual machine). The column groups known to be zero are left alone: their
    /// pages stay unallocated until a record needs them. The rows are not changed.
    /// </summary>
    public void Prefault()
    {
        static void Touch<T>(T[] column) where T : struct
        {
            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(column.AsSpan());
            // Read and write back: the page becomes the process's own without changing what it holds.
            for (var i = 0; i < bytes.Length; i += 4096) Volatile.Write(ref bytes[i], Volatile.Read(ref bytes[i]));
        }
        Touch(TimeReceived); Touch(Start); Touch(End); Touch(Protocol); Touch(Exporter); Touch(ObsDomain);
        Touch(SamplingRate); Touch(InIf); Touch(OutIf); Touch(SrcAddr); Touch(DstAddr);
        Touch(IpVersion); Touch(IpProto); Touch(SrcPort); Touch(DstPort); Touch(TcpFlags); Touch(Tos);
        Touch(IcmpType); Touch(IcmpCode); Touch(Direction); Touch(EndReason); Touch(ForwardingStatus);
        Touch(Vlan); Touch(EtherType); Touch(SrcMac); Touch(DstMac);
        Touch(Bytes); Touch(Packets); Touch(SampledBytes); Touch(SampledPackets);
        if ((_zeroGroups & RoutingGroup) == 0)
        {
            Touch(NextHop); Touch(SrcAs); Touch(DstAs); Touch(SrcMask); Touch(DstMask); Touch(ObsPoint); Touch(PostVlan); Touch(IpFragment);
        }
        if ((_zeroGroups & TunnelGroup) == 0)
        {
            Touch(Tunnel); Touch(TunnelId); Touch(UnderlayProto); Touch(UnderlaySrcPort); Touch(UnderlaySrc); Touch(UnderlayDst);
        }
        if ((_zeroGroups & TenancyGroup) == 0)
        {
            Touch(Account); Touch(Vmi); Touch(VmiDirection); Touch(SrcVn); Touch(DstVn); Touch(Action); Touch(SgRule);
            Touch(App); Touch(Tier); Touch(Site); Touch(Deployment); Touch(SrcCountry); Touch(DstCountry);
        }
        if ((_zeroGroups & SessionGroup) == 0)
        {
            Touch(SessionFlags); Touch(SetupTime); Touch(TeardownTime); Touch(RevBytes); Touch(RevPackets);
            Touch(LoggedBytes); Touch(LoggedPackets); Touch(LoggedRevBytes); Touch(LoggedRevPackets); Touch(RevTcpFlags);
            Touch(RevAction); Touch(RevSgRule); Touch(RemoteApp); Touch(RemoteTier); Touch(RemoteSite);
            Touch(RemoteDeployment); Touch(RemotePrefix);
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static ref T At<T>(T[] column, int i) =>
        ref System.Runtime.CompilerServices.Unsafe.Add(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(column), i);

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
                SrcAs = SrcAs[i], DstAs = DstAs[i], SrcMask = SrcMask[i], DstMask = DstMask[i], IpFragment = IpFragment[i],
                Bytes = Bytes[i], Packets = Packets[i], SampledBytes = SampledBytes[i], SampledPackets = SampledPackets[i],
                Tunnel = Tunnel[i], TunnelId = TunnelId[i], UnderlayProto = UnderlayProto[i],
                UnderlaySrcPort = UnderlaySrcPort[i], UnderlaySrc = UnderlaySrc[i], UnderlayDst = UnderlayDst[i],
                Account = Account[i], Vmi = Vmi[i], VmiDirection = VmiDirection[i], SrcVn = SrcVn[i], DstVn = DstVn[i],
                Action = Action[i], SgRule = SgRule[i], App = App[i], Tier = Tier[i], Site = Site[i], Deployment = Deployment[i],
                SrcCountry = SrcCountry[i], DstCountry = DstCountry[i],
                SessionFlags = SessionFlags[i], SetupTime = SetupTime[i], TeardownTime = TeardownTime[i],
                RevBytes = RevBytes[i], RevPackets = RevPackets[i], LoggedBytes = LoggedBytes[i], LoggedPackets = LoggedPackets[i],
                LoggedRevBytes = LoggedRevBytes[i], LoggedRevPackets = LoggedRevPackets[i], RevTcpFlags = RevTcpFlags[i],
                RevAction = RevAction[i], RevSgRule = RevSgRule[i], RemoteApp = RemoteApp[i], RemoteTier = RemoteTier[i],
                RemoteSite = RemoteSite[i], RemoteDeployment = RemoteDeployment[i], RemotePrefix = RemotePrefix[i],
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
        Resize(ref Account, capacity); Resize(ref Vmi, capacity); Resize(ref VmiDirection, capacity); Resize(ref SrcVn, capacity);
        Resize(ref DstVn, capacity); Resize(ref Action, capacity); Resize(ref SgRule, capacity); Resize(ref App, capacity);
        Resize(ref Tier, capacity); Resize(ref Site, capacity); Resize(ref Deployment, capacity); Resize(ref SrcCountry, capacity);
        Resize(ref DstCountry, capacity);
        Resize(ref SessionFlags, capacity); Resize(ref SetupTime, capacity); Resize(ref TeardownTime, capacity);
        Resize(ref RevBytes, capacity); Resize(ref RevPackets, capacity); Resize(ref LoggedBytes, capacity);
        Resize(ref LoggedPackets, capacity); Resize(ref LoggedRevBytes, capacity); Resize(ref LoggedRevPackets, capacity);
        Resize(ref RevTcpFlags, capacity); Resize(ref RevAction, capacity); Resize(ref RevSgRule, capacity);
        Resize(ref RemoteApp, capacity); Resize(ref RemoteTier, capacity); Resize(ref RemoteSite, capacity);
        Resize(ref RemoteDeployment, capacity); Resize(ref RemotePrefix, capacity); Resize(ref IpFragment, capacity);
        _capacity = capacity;
    }
}
