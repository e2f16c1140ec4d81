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

/// <summary>Per exporter/domain state the template-based protocols need between datagrams.</summary>
public sealed class ExporterTemplateState
{
    internal readonly Dictionary<ushort, Template> Templates = [];
    internal readonly Queue<PendingSet> Pending = new();
    internal int PendingBytes;

    /// <summary>Sampling rate announced by options data (0 when none was seen).</summary>
    public uint SamplingRate { get; internal set; }
    /// <summary>systemInitTimeMilliseconds announced by options data (Unix ms; 0 when unknown).</summary>
    public long SystemInitMillis { get; internal set; }
    internal Dictionary<ulong, uint>? SamplerRates;

    public int TemplateCount => Templates.Count;
    public int PendingCount => Pending.Count;
    public IEnumerable<Template> AllTemplates => Templates.Values;

    /// <summary>Restores what a previous run saved (templates are added through <see cref="TemplateCache.Add"/>).</summary>
    public void Restore(uint samplingRate, long systemInitMillis)
    {
        if (samplingRate != 0) SamplingRate = samplingRate;
        if (systemInitMillis != 0) SystemInitMillis = systemInitMillis;
    }
}

/// <summary>
/// Templates keyed by (exporter address, observation domain / source id, template id), with limits on
/// templates per exporter and a bounded buffer for data sets that arrive before their template.
/// </summary>
public sealed class TemplateCache
{
    private readonly Dictionary<ExporterKey, ExporterTemplateState> _exporters = [];
    private readonly DecodeLimits _limits;

    public TemplateCache(DecodeLimits? limits = null) => _limits = limits ?? DecodeLimits.Default;

    public IReadOnlyDictionary<ExporterKey, ExporterTemplateState> Exporters => _exporters;

    public ExporterTemplateState GetOrAdd(in ExporterKey key)
    {
        if (!_exporters.TryGetValue(key, out var state))
        {
            state = new ExporterTemplateState();
            _exporters.Add(key, state);
        }
        return state;
    }

    public Template? Find(in ExporterKey key, ushort templateId) =>
        _exporters.TryGetValue(key, out var state) && state.Templates.TryGetValue(templateId, out var t) ? t : null;

    /// <summary>Adds or replaces a template; false when the exporter is at its template limit.</summary>
    public bool Add(ExporterTemplateState state, Template template)
    {
        if (!state.Templates.ContainsKey(template.Id) && state.Templates.Count >= _limits.MaxTemplatesPerExporter)
        {
            return false;
        }
        state.Templates[template.Id] = template;
        return true;
    }

    public bool Withdraw(ExporterTemplateState state, ushort templateId) => state.Templates.Remove(templateId);

    /// <summary>Withdraws every data (or options) template of the domain (IPFIX "withdraw all").</summary>
    public int WithdrawAll(ExporterTemplateState state, bool options)
    {
        var ids = state.Templates.Values.Where(t => t.IsOptions == options).Select(t => t.Id).ToList();
        foreach (var id in ids)
        {
            state.Templates.Remove(id);
        }
        return ids.Count;
    }

    /// <summary>Holds a copy of a data set; the oldest held sets make room. Returns how many were dropped.</summary>
    internal int Hold(ExporterTemplateState state, ushort templateId, ReadOnlySpan<byte> set, in PacketContext context)
    {
        var dropped = 0;
        if (set.Length > _limits.MaxPendingBytesPerExporter || _limits.MaxPendingSetsPerExporter == 0)
        {
            return 1;
        }
        while (state.Pending.Count >= _limits.MaxPendingSetsPerExporter ||
               state.PendingBytes + set.Length > _limits.MaxPendingBytesPerExporter)
        {
            var old = state.Pending.Dequeue();
            state.PendingBytes -= old.Length;
            ArrayPool<byte>.Shared.Return(old.Buffer);
            dropped++;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(set.Length);
        set.CopyTo(buffer);
        state.Pending.Enqueue(new PendingSet { TemplateId = templateId, Buffer = buffer, Length = set.Length, Context = context });
        state.PendingBytes += set.Length;
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
