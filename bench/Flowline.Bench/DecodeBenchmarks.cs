using BenchmarkDotNet.Attributes;
using Flowline.Wire;
using Flowline.Records;

namespace Flowline.Bench;

/// <summary>
/// Decoding throughput per protocol: one operation is one datagram of a real capture (the capture's
/// datagrams in order, repeated), decoded into a columnar batch with templates already known.
/// </summary>
[MemoryDiagnoser]
public class DecodeBenchmarks
{
    public const int Datagrams = 4096;

    [Params("ovs_sflow_s1_h128_p5", "pmacctd_sfprobe_A", "ovs_netflow_v5", "softflowd_v9_A", "pmacctd_nfprobe_v9_A", "ovs_ipfix_s1", "softflowd_ipfix_A")]
    public string Capture { get; set; } = "";

    private byte[][] _ring = [];
    private readonly FlowDecoder _decoder = new();
    private readonly FlowBatch _batch = new(1 << 16);
    private readonly FlowAddress _exporter = FlowAddress.Parse("127.0.0.1");

    /// <summary>Flow records per datagram in this capture (reported beside the timings).</summary>
    public double RecordsPerDatagram { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        _ring = Corpus.Ring(Capture, Datagrams);
        // Templates first, as a running collector would have them.
        foreach (var d in Corpus.Datagrams(Capture)) _decoder.Decode(d, _exporter, 0, _batch);
        _batch.Clear();
        var before = _decoder.Stats.FlowRecords;
        Decode();
        RecordsPerDatagram = (double)(_decoder.Stats.FlowRecords - before) / Datagrams;
        File.WriteAllText(Path.Combine(Path.GetTempPath(), $"flowline-bench-records-{Capture}.txt"),
            RecordsPerDatagram.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
    }

    private readonly FlowRecord[] _rows = new FlowRecord[1024];

    /// <summary>Decoding into a row buffer (one struct copy per record), without the columnar transpose.</summary>
    [Benchmark(OperationsPerInvoke = Datagrams)]
    public int DecodeToRows()
    {
        var ring = _ring;
        var sink = new RowSink(_rows);
        for (var i = 0; i < ring.Length; i++)
        {
            sink.Count = 0;
            _decoder.Decode(ring[i], _exporter, 0, ref sink);
        }
        return sink.Count;
    }

    /// <summary>Decoding into the columnar batch, as ingest does.</summary>
    [Benchmark(OperationsPerInvoke = Datagrams)]
    public int Decode()
    {
        var ring = _ring;
        var count = 0;
        for (var i = 0; i < ring.Length; i++)
        {
            _batch.Clear();
            _decoder.Decode(ring[i], _exporter, 0, _batch);
            count += _batch.Count;
        }
        return count;
    }
}

/// <summary>Copies each record into a reusable row buffer, so no field of the decode can be optimised away.</summary>
public struct RowSink(FlowRecord[] rows) : IFlowSink
{
    public int Count;

    public void OnFlow(in FlowRecord record, in SampledPacket packet)
    {
        rows[Count & (rows.Length - 1)] = record;
        Count++;
    }

    public readonly void OnDatagram(in DatagramHeader header) { }
    public readonly void OnSample(in SampleHeader sample) { }
    public readonly void OnCounters(in CounterRecord record) { }
    public readonly void OnTemplate(in TemplateEvent template) { }
    public readonly void OnOptions(FlowProtocol protocol, uint obsDomain, ushort templateId) { }
}
