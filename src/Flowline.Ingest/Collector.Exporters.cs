using Flowline.Records;
using Flowline.Wire;

namespace Flowline.Ingest;

/// <summary>The exporters the collector follows: made known by datagrams, forgotten by the limits of docs/LIMITS.md.</summary>
public sealed partial class Collector
{
    /// <summary>
    /// The state of exporter <paramref name="id"/>, made when new by a datagram from <paramref name="source"/>
    /// (its UDP source). Anyone can make up sFlow agent addresses and observation domains: one source holds at
    /// most an eighth of <see cref="CollectorOptions.MaxExporters"/> (the configured sFlow relays excepted),
    /// and makes room among its own beyond that, so however many datagrams it sends under each made-up name,
    /// it cannot push other sources' exporters out.
    /// </summary>
    internal ExporterState Exporter(ExporterId id, FlowAddress source)
    {
        if (_exporters.TryGetValue(id, out var known)) return known;
        lock (_eviction)
        {
            if (_exporters.TryGetValue(id, out known)) return known;
            if (!Admission.IsRelay(source) && _bySource.GetValueOrDefault(source) >= SourceShare)
            {
                Evict(_exporters.Values.Where(e => e.Source == source), Math.Max(1, SourceShare / 10));
            }
            if (_exporters.Count >= Options.MaxExporters) Evict(_exporters.Values, Math.Max(1, Options.MaxExporters / 10));
            var state = new ExporterState(id, source);
            _exporters[id] = state;
            _bySource[source] = _bySource.GetValueOrDefault(source) + 1;
            return state;
        }
    }

    /// <summary>An eighth of the exporters, at least 16 (a router's domains and protocols), at most all.</summary>
    private int SourceShare => Math.Min(Options.MaxExporters, Math.Max(16, Options.MaxExporters / DecodeLimits.Default.MaxExporterShare));

    private readonly Lock _eviction = new();
    /// <summary>Exporters each UDP source made (under <see cref="_eviction"/>).</summary>
    private readonly Dictionary<FlowAddress, int> _bySource = [];
    private long _exportersEvicted;
    /// <summary>Records decoded from exporters since forgotten: the totals still count them.</summary>
    private long _forgottenRecords;

    /// <summary>
    /// Forgets <paramref name="count"/> of <paramref name="candidates"/>: those that never sent a record first, then
    /// those that sent fewest datagrams (by powers of 16), then the longest silent. An exporter that has sent
    /// thousands of datagrams outlasts made-up ones with a record each. Called under <see cref="_eviction"/>.
    /// </summary>
    private void Evict(IEnumerable<ExporterState> candidates, int count)
    {
        var victims = candidates.OrderBy(e => e.Records > 0).ThenBy(e => System.Numerics.BitOperations.Log2((ulong)e.Datagrams + 1) / 4).ThenBy(e => e.LastSeen)
            .Take(count).ToList();
        foreach (var v in victims) Forget(v);
    }

    private void Forget(ExporterState e)
    {
        if (!_exporters.TryRemove(new KeyValuePair<ExporterId, ExporterState>(e.Id, e))) return;
        Interlocked.Increment(ref _exportersEvicted);
        Interlocked.Add(ref _forgottenRecords, e.Records);
        if (_bySource.GetValueOrDefault(e.Source) <= 1) _bySource.Remove(e.Source);
        else _bySource[e.Source]--;
    }

    /// <summary>Forgets exporters not heard from for <see cref="CollectorOptions.ExporterIdle"/> (on the maintenance timer).</summary>
    internal void EvictIdleExporters(long nowMicros)
    {
        var before = nowMicros - (long)(Options.ExporterIdle.TotalMilliseconds * 1000);
        lock (_eviction)
        {
            foreach (var e in _exporters.Values)
            {
                if (e.LastSeen != 0 && e.LastSeen < before) Forget(e);
            }
        }
    }

    internal uint SamplingOverride(FlowAddress agent, FlowAddress from) =>
        _sampling.Count == 0 ? 0 : _sampling.TryGetValue(agent, out var r) || _sampling.TryGetValue(from, out r) ? r : 0;

    /// <summary>
    /// Counts a datagram dropped at a full queue against its exporter when it is one already known; the socket counts
    /// every drop. Not decoded nor admitted, the datagram's header may name any exporter: it makes none.
    /// </summary>
    internal void CountQueueDrop(FlowAddress from, ReadOnlySpan<byte> datagram)
    {
        if (_exporters.TryGetValue(IdOf(from, datagram), out var known)) known.AddQueueDrop();
    }

    /// <summary>The exporter a datagram comes from, read from its header alone (for datagrams that are not decoded).</summary>
    internal static ExporterId IdOf(FlowAddress from, ReadOnlySpan<byte> d)
    {
        var protocol = Wire.FlowDecoder.Detect(d);
        static uint U32(ReadOnlySpan<byte> d, int at) => d.Length >= at + 4 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(d[at..]) : 0;
        switch (protocol)
        {
            case FlowProtocol.Ipfix: return new ExporterId(from, protocol, U32(d, 12));
            case FlowProtocol.NetFlow9: return new ExporterId(from, protocol, U32(d, 16));
            case FlowProtocol.SFlow5 when U32(d, 4) == 1 && d.Length >= 16: return new ExporterId(FlowAddress.FromV4(d.Slice(8, 4)), protocol, U32(d, 12));
            case FlowProtocol.SFlow5 when U32(d, 4) == 2 && d.Length >= 28: return new ExporterId(FlowAddress.FromV6(d.Slice(8, 16)), protocol, U32(d, 24));
            default: return new ExporterId(from, protocol, 0);
        }
    }
}
