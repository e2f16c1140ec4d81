using System.Buffers;
using Flowline.Records;

namespace Flowline.Wire.Ipfix;

/// <summary>Identifies a template scope: an exporter's observation domain (IPFIX) or source id (NetFlow v9).</summary>
public readonly record struct ExporterKey(FlowAddress Exporter, uint Domain, FlowProtocol Protocol);

/// <summary>A data set held until its template arrives, with the header context needed to decode it then.</summary>
internal struct PendingSet
{
    public ushort TemplateId;
    public byte[] Buffer;
    public int Length;
    public PacketContext Context;
}

/// <summary>The header values a data record's times are relative to.</summary>
internal struct PacketContext
{
    public long TimeReceived;
    public uint ExportTime;
    public uint UptimeMs;
    public uint Sequence;
}

/// <summary>
/// What one exporter address holds across its scopes. Whoever can send a datagram chooses its observation
/// domains and template ids, so no address may take more than 1/<see cref="DecodeLimits.MaxExporterShare"/> of a
/// decoder's scopes, template fields or held bytes: beyond it, its own scopes make room, not other exporters'.
/// </summary>
internal sealed class ExporterShare
{
    public readonly HashSet<ExporterKey> Keys = [];
    public long Fields;
    public long PendingBytes;
}

/// <summary>Per exporter/domain state the template-based protocols need between datagrams.</summary>
public sealed class ExporterTemplateState
{
    internal ExporterShare Share = new();
    internal TemplateCache Owner = null!;
    internal readonly Dictionary<ushort, Template> Templates = [];
    internal readonly Queue<PendingSet> Pending = new();
    internal int PendingBytes;

    /// <summary>The header context of the oldest set held for a template, if any.</summary>
    internal bool FirstHeld(ushort templateId, out PacketContext context)
    {
        foreach (var p in Pending)
        {
            if (p.TemplateId != templateId) continue;
            context = p.Context;
            return true;
        }
        context = default;
        return false;
    }
    /// <summary>The cache's use counter when this scope was last looked up (its recency).</summary>
    internal long LastUsed;
    /// <summary>A data set of this scope decoded with a template: a real exporter, kept before scopes that only announce templates.</summary>
    internal bool HasData;

    /// <summary>Sampling rate announced by options data (0 when none was seen).</summary>
    public uint SamplingRate { get; internal set; }
    /// <summary>systemInitTimeMilliseconds announced by options data (Unix ms; 0 when unknown).</summary>
    public long SystemInitMillis { get; internal set; }
    internal Dictionary<ulong, uint>? SamplerRates;

    /// <summary>Keeps a sampler's rate from options data; false when the scope holds its maximum of samplers and this is a new one.</summary>
    internal bool SetSamplerRate(ulong samplerId, uint rate, int max)
    {
        var rates = SamplerRates ??= [];
        if (rates.Count >= max && !rates.ContainsKey(samplerId)) return false;
        rates[samplerId] = rate;
        return true;
    }

    public int TemplateCount => Templates.Count;
    public int PendingCount => Pending.Count;
    public int PendingByteCount => PendingBytes;
    /// <summary>Whether a data set of this scope has been decoded with one of its templates.</summary>
    public bool DecodedData => HasData;
    public IEnumerable<Template> AllTemplates => Templates.Values;

    /// <summary>Restores what a previous run saved (templates are added through <see cref="TemplateCache.Add"/>).</summary>
    public void Restore(uint samplingRate, long systemInitMillis)
    {
        if (samplingRate != 0) SamplingRate = samplingRate;
        if (systemInitMillis != 0) SystemInitMillis = systemInitMillis;
        HasData = true; // only scopes that decoded data are saved
    }
}

/// <summary>
/// Templates keyed by (exporter address, observation domain / source id, template id), with limits on
/// templates per exporter and a bounded buffer for data sets that arrive before their template.
/// </summary>
public sealed class TemplateCache
{
    private readonly Dictionary<ExporterKey, ExporterTemplateState> _exporters = [];
    private readonly Dictionary<FlowAddress, ExporterShare> _shares = [];
    private readonly DecodeLimits _limits;
    private long _uses, _templates, _fields, _pendingBytes, _scopesEvicted, _templatesRefused, _pendingRefused, _pendingExpired, _pendingDropped, _samplersRefused;

    public TemplateCache(DecodeLimits? limits = null) => _limits = limits ?? DecodeLimits.Default;

    public IReadOnlyDictionary<ExporterKey, ExporterTemplateState> Exporters => _exporters;

    /// <summary>Exporter/domain scopes forgotten to stay within <see cref="DecodeLimits.MaxTemplateScopes"/> or <see cref="DecodeLimits.MaxTemplateFieldsTotal"/>.</summary>
    public long ScopesEvicted => Volatile.Read(ref _scopesEvicted);
    /// <summary>Templates refused because their scope was at <see cref="DecodeLimits.MaxTemplatesPerExporter"/>.</summary>
    public long TemplatesRefused => Volatile.Read(ref _templatesRefused);
    /// <summary>Data sets not held because every scope's held bytes together reached <see cref="DecodeLimits.MaxPendingBytesTotal"/>.</summary>
    public long PendingRefused => Volatile.Read(ref _pendingRefused);
    /// <summary>Held data sets dropped because their template did not come within <see cref="DecodeLimits.MaxPendingAge"/>.</summary>
    public long PendingExpired => Volatile.Read(ref _pendingExpired);
    /// <summary>
    /// Held data sets dropped to make room (an exporter's held sets beyond its limits, oldest first), too large to
    /// hold, or dropped with their evicted scope: records that never got their template.
    /// </summary>
    public long PendingDropped => Volatile.Read(ref _pendingDropped);
    /// <summary>Samplers' rates from options data not kept because their scope held <see cref="DecodeLimits.MaxSamplersPerScope"/>.</summary>
    public long SamplersRefused => Volatile.Read(ref _samplersRefused);
    /// <summary>Templates held across every scope.</summary>
    public long TemplateTotal => Volatile.Read(ref _templates);
    /// <summary>Bytes of data sets held across every scope.</summary>
    public long PendingBytesTotal => Volatile.Read(ref _pendingBytes);

    public ExporterTemplateState GetOrAdd(in ExporterKey key)
    {
        if (!_exporters.TryGetValue(key, out var state))
        {
            if (_shares.TryGetValue(key.Exporter, out var own) && own.Keys.Count >= _limits.MaxTemplateScopes / _limits.MaxExporterShare)
            {
                Evict(null, own);
            }
            if (_exporters.Count >= _limits.MaxTemplateScopes) Evict(null, null);
            if (!_shares.TryGetValue(key.Exporter, out var share)) _shares.Add(key.Exporter, share = new ExporterShare());
            state = new ExporterTemplateState { Share = share, Owner = this };
            _exporters.Add(key, state);
            share.Keys.Add(key);
        }
        state.LastUsed = ++_uses;
        return state;
    }

    /// <summary>
    /// Forgets a tenth of the scopes (at least one) of <paramref name="share"/>'s exporter, or of every exporter
    /// when null: those that never decoded data first and then the least recently used, sparing
    /// <paramref name="keep"/>. Whoever can send us a datagram can make up scopes: evicting in rounds keeps the
    /// cost per new scope logarithmic, and exporters whose data decodes outlast a flood of scopes that only
    /// announce templates.
    /// </summary>
    private void Evict(ExporterTemplateState? keep, ExporterShare? share)
    {
        IEnumerable<KeyValuePair<ExporterKey, ExporterTemplateState>> candidates =
            share is null ? _exporters : share.Keys.Select(k => new KeyValuePair<ExporterKey, ExporterTemplateState>(k, _exporters[k]));
        var count = Math.Max(1, (share?.Keys.Count ?? _exporters.Count) / 10);
        var victims = candidates.Where(e => e.Value != keep)
            .OrderBy(e => e.Value.HasData).ThenBy(e => e.Value.LastUsed)
            .Take(count).Select(e => e.Key).ToList();
        foreach (var key in victims)
        {
            var state = _exporters[key];
            _exporters.Remove(key);
            _templates -= state.Templates.Count;
            foreach (var t in state.Templates.Values)
            {
                _fields -= t.Fields.Length;
                state.Share.Fields -= t.Fields.Length;
            }
            while (state.Pending.Count > 0)
            {
                DropOldest(state);
                _pendingDropped++;
            }
            state.Share.Keys.Remove(key);
            if (state.Share.Keys.Count == 0) _shares.Remove(key.Exporter);
            _scopesEvicted++;
        }
    }

    public Template? Find(in ExporterKey key, ushort templateId) =>
        _exporters.TryGetValue(key, out var state) && state.Templates.TryGetValue(templateId, out var t) ? t : null;

    /// <summary>
    /// Adds or replaces a template; false when the scope is at its template limit, or its exporter at its share of
    /// the decoder's field budget even after forgetting its other scopes, or the scope alone holds the whole budget.
    /// </summary>
    public bool Add(ExporterTemplateState state, Template template)
    {
        var replaces = state.Templates.TryGetValue(template.Id, out var old);
        if (!replaces && state.Templates.Count >= _limits.MaxTemplatesPerExporter)
        {
            _templatesRefused++;
            return false;
        }
        var growth = template.Fields.Length - (old?.Fields.Length ?? 0);
        var share = _limits.MaxTemplateFieldsTotal / _limits.MaxExporterShare;
        if (state.Share.Fields + growth > share) Evict(state, state.Share);
        if (_fields + growth > _limits.MaxTemplateFieldsTotal) Evict(state, null);
        if (state.Share.Fields + growth > share || _fields + growth > _limits.MaxTemplateFieldsTotal)
        {
            // What is left is this scope's own: it may not have more than its exporter's share.
            _templatesRefused++;
            return false;
        }
        if (!replaces) _templates++;
        state.Templates[template.Id] = template;
        _fields += growth;
        state.Share.Fields += growth;
        return true;
    }

    public bool Withdraw(ExporterTemplateState state, ushort templateId)
    {
        if (!state.Templates.Remove(templateId, out var old)) return false;
        _templates--;
        _fields -= old.Fields.Length;
        state.Share.Fields -= old.Fields.Length;
        return true;
    }

    /// <summary>Withdraws every data (or options) template of the domain (IPFIX "withdraw all").</summary>
    public int WithdrawAll(ExporterTemplateState state, bool options)
    {
        var ids = state.Templates.Values.Where(t => t.IsOptions == options).Select(t => t.Id).ToList();
        foreach (var id in ids)
        {
            if (state.Templates.Remove(id, out var old))
            {
                _fields -= old.Fields.Length;
                state.Share.Fields -= old.Fields.Length;
            }
        }
        _templates -= ids.Count;
        return ids.Count;
    }

    /// <summary>Keeps a sampler's rate from options data, counting it when the scope holds its maximum of samplers.</summary>
    internal void SetSamplerRate(ExporterTemplateState state, ulong samplerId, uint rate)
    {
        if (!state.SetSamplerRate(samplerId, rate, _limits.MaxSamplersPerScope)) _samplersRefused++;
    }

    /// <summary>Holds a copy of a data set; the oldest held sets make room. Returns how many were dropped.</summary>
    internal int Hold(ExporterTemplateState state, ushort templateId, ReadOnlySpan<byte> set, in PacketContext context)
    {
        var dropped = 0;
        if (set.Length > _limits.MaxPendingBytesPerExporter || _limits.MaxPendingSetsPerExporter == 0)
        {
            _pendingDropped++;
            return 1;
        }
        while (state.Pending.Count >= _limits.MaxPendingSetsPerExporter ||
               state.PendingBytes + set.Length > _limits.MaxPendingBytesPerExporter)
        {
            DropOldest(state);
            dropped++;
            _pendingDropped++;
        }
        if (_pendingBytes + set.Length > _limits.MaxPendingBytesTotal
            || state.Share.PendingBytes + set.Length > _limits.MaxPendingBytesTotal / _limits.MaxExporterShare)
        {
            _pendingRefused++;
            return dropped + 1;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(set.Length);
        set.CopyTo(buffer);
        state.Pending.Enqueue(new PendingSet { TemplateId = templateId, Buffer = buffer, Length = set.Length, Context = context });
        state.PendingBytes += set.Length;
        state.Share.PendingBytes += set.Length;
        _pendingBytes += set.Length;
        return dropped;
    }

    private void DropOldest(ExporterTemplateState state)
    {
        var old = state.Pending.Dequeue();
        state.PendingBytes -= old.Length;
        state.Share.PendingBytes -= old.Length;
        _pendingBytes -= old.Length;
        ArrayPool<byte>.Shared.Return(old.Buffer);
    }

    /// <summary>
    /// Drops the data sets held since before <paramref name="now"/> minus <see cref="DecodeLimits.MaxPendingAge"/>
    /// (µs, the clock their datagrams were received by): an exporter resends its templates far more often, so
    /// theirs is not coming, and their bytes would otherwise stay until newer sets pushed them out. Each scope's
    /// sets are held oldest first. Returns how many were dropped.
    /// </summary>
    public int ExpireHeld(long now)
    {
        var cutoff = now - (long)_limits.MaxPendingAge.TotalMicroseconds;
        var dropped = 0;
        foreach (var state in _exporters.Values)
        {
            while (state.Pending.TryPeek(out var p) && p.Context.TimeReceived < cutoff)
            {
                DropOldest(state);
                dropped++;
            }
        }
        _pendingExpired += dropped;
        return dropped;
    }

    /// <summary>Removes and returns the held sets for a template, oldest first.</summary>
    internal List<PendingSet>? TakePending(ExporterTemplateState state, ushort templateId)
    {
        if (state.Pending.Count == 0)
        {
            return null;
        }
        List<PendingSet>? taken = null;
        var count = state.Pending.Count;
        for (var i = 0; i < count; i++)
        {
            var p = state.Pending.Dequeue();
            if (p.TemplateId == templateId)
            {
                (taken ??= []).Add(p);
                state.PendingBytes -= p.Length;
                state.Share.PendingBytes -= p.Length;
                _pendingBytes -= p.Length;
            }
            else
            {
                state.Pending.Enqueue(p);
            }
        }
        return taken;
    }

    /// <summary>Number of data sets still waiting for a template across all exporters.</summary>
    public int PendingSets => _exporters.Values.Sum(e => e.Pending.Count);
}
