using System.Numerics;
using Flowline.Records;

namespace Flowline.Sessions;

/// <summary>
/// Turns a flush's sessions straight into rows of the sessions store, the rows
/// <see cref="EndpointAggregator"/> and <see cref="SessionRows"/> give for the same sessions, without
/// building the SessionEndpoint objects: each session is offered to the exporter (sampled, logged),
/// and sessions that land on one row (the same endpoint, aggregate and session key: e.g. one
/// conversation seen in two observation domains) are folded into it. Rows are handed on in chunks of
/// at most <c>chunkRows</c>, so memory does not grow with the sessions of an interval; folding
/// happens within a chunk.
/// </summary>
public sealed class SessionRowWriter : ISessionVisitor
{
    private readonly SessionExporter _exporter;
    private readonly ISymbolInterner _symbols;
    private readonly Action<FlowBatch> _chunk;
    private readonly int _chunkRows;
    private readonly FlowBatch _rows;
    private readonly Fold[] _folds;
    private readonly int[] _slots;
    private readonly Dictionary<Prefix, uint> _prefixIds = [];
    /// <summary>Prefix names cached at most (remote prefixes are keyed by what strangers send).</summary>
    private const int MaxCachedPrefixes = 1 << 20;

    /// <summary>
    /// Names the symbol table may hold before remote prefixes it has no name for yet are named by their family's
    /// /0 (0.0.0.0/0, ::/0): they are made of strangers' addresses, and a name once given is kept for good.
    /// </summary>
    public const int MaxNamesForPrefixes = 2_000_000;
    private readonly int _maxNames;

    /// <summary>Remote prefixes named by their family's /0 because the symbol table held <see cref="MaxNamesForPrefixes"/> names.</summary>
    public long PrefixesFolded { get; private set; }

    /// <param name="chunk">Receives each full chunk and the last; the batch is cleared after the call returns.</param>
    public SessionRowWriter(SessionExporter exporter, ISymbolInterner symbols, Action<FlowBatch> chunk, int chunkRows = 16_384, int maxNames = MaxNamesForPrefixes)
    {
        if (chunkRows < 1) throw new ArgumentOutOfRangeException(nameof(chunkRows));
        (_exporter, _symbols, _chunk, _chunkRows, _maxNames) = (exporter, symbols, chunk, chunkRows, maxNames);
        _rows = new FlowBatch(chunkRows);
        _folds = new Fold[chunkRows];
        _slots = new int[BitOperations.RoundUpToPowerOf2((uint)chunkRows * 2)];
    }

    /// <summary>The time (µs) the rows are reported at: the flush's.</summary>
    public long Time { get; set; }

    /// <summary>Sessions that can be added before the chunk is full (each adds a row at most).</summary>
    public int Room => _chunkRows - _rows.Count;

    /// <summary>What makes two sessions one row, and the remote prefix whose symbol id the row waits for.</summary>
    private readonly record struct Fold(
        uint Account, uint Vmi, uint ClientVn, uint ServerVn, uint App, uint Tier, uint Site, uint Deployment,
        uint RemoteApp, uint RemoteTier, uint RemoteSite, uint RemoteDeployment, Prefix RemotePrefix, uint Rule, bool LocalIsClient,
        FlowAddress Exporter, FlowAddress Client, FlowAddress Server, byte Protocol, ushort ClientPort, ushort ServerPort);

    public void Visit(Session session, bool ended)
    {
        var d = _exporter.Decide(session, ended);
        if (d.Sampled || d.Logged) Add(session, d.Sampled, d.Scale, d.Logged);
    }

    /// <summary>Adds a session's row (or folds it into the row it shares); <paramref name="scale"/> multiplies its sampled counts.</summary>
    public void Add(Session s, bool sampled, double scale, bool logged)
    {
        var tags = _exporter.RemoteTags?.Invoke(s.Account, s.RemoteVn, s.RemoteIp);
        var (ra, rt, rs, rd) = tags ?? (0u, 0u, 0u, 0u);
        // The remote end is named by its tags, else its network, else the prefix around its address.
        var prefix = tags is null && s.RemoteVn == 0 ? Prefix.Around(s.RemoteIp) : Prefix.None;
        var rule = s.Forward.Seen || s.Forward.SgRule != 0 ? s.Forward.SgRule : s.Reverse.SgRule;
        var fold = new Fold(s.Account, s.Vmi, s.ClientVn, s.ServerVn, s.App, s.Tier, s.Site, s.Deployment, ra, rt, rs, rd, prefix, rule,
            s.LocalIsClient, s.Exporter, s.ClientIp, s.ServerIp, s.Protocol, s.ClientPort, s.ServerPort);
        ulong fb = sampled ? Scale(s.Forward.Bytes, scale) : 0, fp = sampled ? Scale(s.Forward.Packets, scale) : 0;
        ulong rb = sampled ? Scale(s.Reverse.Bytes, scale) : 0, rp = sampled ? Scale(s.Reverse.Packets, scale) : 0;
        ulong lfb = logged ? s.Forward.Bytes : 0, lfp = logged ? s.Forward.Packets : 0;
        ulong lrb = logged ? s.Reverse.Bytes : 0, lrp = logged ? s.Reverse.Packets : 0;

        var mask = _slots.Length - 1;
        var slot = fold.GetHashCode() & mask;
        while (_slots[slot] != 0)
        {
            var at = _slots[slot] - 1;
            if (_folds[at] == fold)
            {
                var b = _rows;
                // Columns written in place: a group the batch knows to be zero must learn otherwise.
                _ = b.ColumnBytes(FlowField.SgRule, b.Count);
                _ = b.ColumnBytes(FlowField.RevSgRule, b.Count);
                b.Bytes[at] += fb; b.Packets[at] += fp; b.RevBytes[at] += rb; b.RevPackets[at] += rp;
                b.LoggedBytes[at] += lfb; b.LoggedPackets[at] += lfp; b.LoggedRevBytes[at] += lrb; b.LoggedRevPackets[at] += lrp;
                b.TcpFlags[at] |= s.Forward.TcpFlags;
                b.RevTcpFlags[at] |= s.Reverse.TcpFlags;
                var teardown = Math.Max(b.TeardownTime[at], s.Teardown);
                b.TeardownTime[at] = teardown;
                b.End[at] = teardown != 0 ? teardown : Time;
                (b.Action[at], b.RevAction[at], b.RevSgRule[at]) = (s.Forward.Action, s.Reverse.Action, s.Reverse.SgRule);
                b.SgRule[at] = rule != 0 ? rule : s.Forward.SgRule;
                b.SessionFlags[at] |= (byte)((sampled ? SessionFlags.Sampled : 0) | (logged ? SessionFlags.Logged : 0) | (teardown != 0 ? SessionFlags.Ended : 0));
                return;
            }
            slot = (slot + 1) & mask;
        }
        var client = s.LocalIsClient;
        var r = new FlowRecord
        {
            TimeReceived = Time, Start = Time, End = s.Teardown != 0 ? s.Teardown : Time,
            Exporter = s.Exporter, IpProto = s.Protocol, IpVersion = (byte)(s.LocalIp.IsV4 ? 4 : 6),
            SrcAddr = s.ClientIp, DstAddr = s.ServerIp, SrcPort = s.ClientPort, DstPort = s.ServerPort,
            SrcVn = s.ClientVn, DstVn = s.ServerVn,
            Bytes = fb, Packets = fp, RevBytes = rb, RevPackets = rp,
            LoggedBytes = lfb, LoggedPackets = lfp, LoggedRevBytes = lrb, LoggedRevPackets = lrp,
            TcpFlags = s.Forward.TcpFlags, RevTcpFlags = s.Reverse.TcpFlags,
            Action = s.Forward.Action, RevAction = s.Reverse.Action, SgRule = rule != 0 ? rule : s.Forward.SgRule, RevSgRule = s.Reverse.SgRule,
            Account = s.Account, Vmi = s.Vmi, App = s.App, Tier = s.Tier, Site = s.Site, Deployment = s.Deployment,
            RemoteApp = ra, RemoteTier = rt, RemoteSite = rs, RemoteDeployment = rd,
            SetupTime = s.Setup, TeardownTime = s.Teardown,
            SessionFlags = (byte)((client ? SessionFlags.Client : SessionFlags.Server)
                | (sampled ? SessionFlags.Sampled : 0) | (logged ? SessionFlags.Logged : 0)
                | (s.Teardown != 0 ? SessionFlags.Ended : 0)),
        };
        var row = _rows.Count;
        _rows.Add(r);
        _folds[row] = fold;
        _slots[slot] = row + 1;
        if (_rows.Count == _chunkRows) Complete();
    }

    /// <summary>Hands on the rows written since the last chunk (with their remote prefixes' symbol ids).</summary>
    public void Complete()
    {
        if (_rows.Count == 0) return;
        List<string>? names = null;
        List<Prefix>? missing = null;
        for (var i = 0; i < _rows.Count; i++)
        {
            var p = _folds[i].RemotePrefix;
            if (p.IsNone || _prefixIds.ContainsKey(p)) continue;
            _prefixIds[p] = 0; // asked for once below
            var name = p.ToString();
            if (_symbols.Count + (names?.Count ?? 0) >= _maxNames)
            {
                if (_symbols is ISymbolTable table && table.TryFind(name, out var known))
                {
                    _prefixIds[p] = known;
                    continue;
                }
                name = p.Network.IsV4 ? "0.0.0.0/0" : "::/0";
                PrefixesFolded++;
            }
            (names ??= []).Add(name);
            (missing ??= []).Add(p);
        }
        if (names is not null)
        {
            var ids = _symbols.Intern(names);
            for (var k = 0; k < ids.Length; k++) _prefixIds[missing![k]] = ids[k];
        }
        var column = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(_rows.ColumnBytes(FlowField.RemotePrefix, _rows.Count));
        for (var i = 0; i < _rows.Count; i++)
        {
            var p = _folds[i].RemotePrefix;
            column[i] = p.IsNone ? 0 : _prefixIds[p];
        }
        if (_prefixIds.Count > MaxCachedPrefixes) _prefixIds.Clear();
        try
        {
            _chunk(_rows);
        }
        finally
        {
            _rows.Clear();
            Array.Clear(_slots);
        }
    }

    private static ulong Scale(ulong value, double scale) => scale == 1 ? value : (ulong)(long)Math.Round(value * scale);
}
