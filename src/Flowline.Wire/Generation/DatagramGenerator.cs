using Flowline.Wire.Encoders;
using Flowline.Records;

namespace Flowline.Wire.Generation;

/// <summary>
/// Packs generated flows into export datagrams: sFlow v5 (one flow sample per flow, its average packet
/// as the sampled header), NetFlow v5 (28 records a datagram; IPv4 only, so IPv6 flows are drawn again),
/// NetFlow v9 or IPFIX (templates first and again every 100 datagrams).
/// </summary>
public sealed class DatagramGenerator
{
    public const int MaxDatagram = 1400;
    private const int TemplateEvery = 100;

    private readonly TrafficGenerator _traffic;
    private readonly SFlowEncoder? _sflow;
    private readonly TemplateFlowEncoder? _templates;
    private readonly NetFlowV5Encoder? _v5;
    private readonly FlowRecord[] _pending = new FlowRecord[64];
    private readonly int _perDatagram;
    private long _datagrams;
    private long _exportMicros;
    private const long BootedBeforeMicros = 3_600_000_000;

    public DatagramGenerator(FlowProtocol protocol, TrafficGenerator traffic, uint domain = 1)
    {
        Protocol = protocol;
        _traffic = traffic;
        switch (protocol)
        {
            case FlowProtocol.SFlow5:
                _sflow = new SFlowEncoder { Agent = FlowAddress.Parse("192.0.2.1"), SubAgent = domain, HeaderBytes = 128 };
                _perDatagram = (MaxDatagram - 28) / _sflow.MaxFlowSampleLength;
                break;
            case FlowProtocol.NetFlow5:
                // The sampling interval field: mode 01 (packet interval) in the top two bits, the rate in fourteen.
                _v5 = new NetFlowV5Encoder
                {
                    EngineId = (byte)domain,
                    SamplingInterval = traffic.SamplingRate > 1 ? (ushort)(0x4000 | Math.Min(traffic.SamplingRate, 0x3FFFu)) : (ushort)0,
                };
                _perDatagram = 28;
                break;
            case FlowProtocol.NetFlow9 or FlowProtocol.Ipfix:
                _templates = new TemplateFlowEncoder(protocol, domain) { SamplingRate = traffic.SamplingRate };
                // The message header, one set header per family, and the IPv6 record (95 bytes) as the bound.
                _perDatagram = (MaxDatagram - 20 - 8) / 95;
                break;
            default:
                throw new ArgumentException("sflow5, netflow5, netflow9 or ipfix", nameof(protocol));
        }
    }

    public FlowProtocol Protocol { get; }
    public long Flows { get; private set; }
    /// <summary>False: NetFlow v9 / IPFIX datagrams carry data only, as from an exporter whose templates the collector already has.</summary>
    public bool SendTemplates { get; init; } = true;
    public long Datagrams => _datagrams;

    /// <summary>Writes the next datagram holding up to <paramref name="maxFlows"/> flows; returns its length and the flows in it.</summary>
    public int Next(Span<byte> destination, int maxFlows, out int flows)
    {
        var withTemplates = _templates is not null && SendTemplates && _datagrams % TemplateEvery == 0;
        // A datagram that repeats the templates (about 360 bytes) carries four flows fewer.
        flows = Math.Min(maxFlows, withTemplates ? _perDatagram - 4 : _perDatagram);
        for (var i = 0; i < flows; i++)
        {
            var r = _traffic.Next();
            while (_v5 is not null && r.IpVersion != 4) r = _traffic.Next();
            if (_sflow is not null)
            {
                // One sampled packet of the flow: its average size, one packet, scaled by the rate.
                r.SampledBytes = Math.Clamp(r.SampledBytes / Math.Max(1, r.SampledPackets), 64, 1518);
                r.SampledPackets = 1;
            }
            _pending[i] = r;
        }
        // An exporter sends a flow once it has ended, and its clock only goes forward: the export time is the
        // latest end so far, in whole seconds, as NetFlow v9 and IPFIX headers carry it (a fraction left out there
        // would move every uptime-based time of the datagram up to a second earlier). Its uptime counts from an
        // hour before the first flow, so that no flow began before it.
        for (var i = 0; i < flows; i++) _exportMicros = Math.Max(_exportMicros, Math.Max(_pending[i].TimeReceived, _pending[i].End));
        _exportMicros = (_exportMicros + 999_999) / 1_000_000 * 1_000_000;
        var now = _exportMicros;
        var uptimeMs = (uint)((now - (_traffic.StartMicros - BootedBeforeMicros)) / 1000);
        int length;
        if (_v5 is not null)
        {
            length = _v5.Encode(_pending.AsSpan(0, flows), now, uptimeMs, destination);
        }
        else if (_sflow is not null)
        {
            _sflow.UptimeMs = uptimeMs;
            length = _sflow.Encode(_pending.AsSpan(0, flows), [], destination);
        }
        else
        {
            length = _templates!.EncodeData(_pending.AsSpan(0, flows), destination, now, uptimeMs, includeTemplates: withTemplates);
        }
        _datagrams++;
        Flows += flows;
        return length;
    }
}
