using BenchmarkDotNet.Attributes;
using Flowline.Wire;
using Flowline.Wire.Records;

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
