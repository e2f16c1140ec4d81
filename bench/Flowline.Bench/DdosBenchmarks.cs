using BenchmarkDotNet.Attributes;
using Flowline.Enrichment;
using Flowline.Mitigation.Ddos;
using Flowline.Records;
using Flowline.Wire.Generation;

namespace Flowline.Bench;

/// <summary>
/// The DDoS detector's cost per row: 65,536 rows of `flowline gen --public-servers` traffic sampled
/// 1:1000, every address protected (0.0.0.0/0 and ::/0), the clock moving as at a million rows a second
/// (so the quarter-second evaluation runs every fourth batch). Divide the time by 65,536.
/// </summary>
[MemoryDiagnoser]
public class DdosBenchmarks
{
    private const int Rows = 65_536;
    private readonly FlowBatch _batch = new(Rows);
    private DdosService _service = null!;
    private long _now = 1_800_000_000_000_000;

    [Params(false, true)]
    public bool Protected { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var traffic = new TrafficGenerator(7, samplingRate: 1000) { PublicServers = true };
        for (var i = 0; i < Rows; i++)
        {
            var r = traffic.Next();
            _batch.Add(r);
        }
        var options = new DdosOptions { Mode = DdosMode.DryRun };
        if (Protected)
        {
            options.Group("v4").Prefixes.Add(Prefix.Create(FlowAddress.Parse("0.0.0.0"), 0));
            options.Group("v6").Prefixes.Add(Prefix.Create(FlowAddress.Parse("::"), 0));
        }
        else
        {
            options.Group("none").Prefixes.Add(Prefix.Create(FlowAddress.Parse("192.0.2.0"), 24));
        }
        _service = new DdosService(options, () => Inventory.Empty, null, () => _now);
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public void DetectorPerRow()
    {
        _service.Detector.Add(_batch, 0, Rows);
        _now += Rows;
        _service.Detector.Tick(_now);
    }

    /// <summary>The protected-set lookup alone, for every row's destination.</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public int ProtectedLookupPerRow()
    {
        var set = _service.Protected;
        var found = 0;
        for (var i = 0; i < Rows; i++) found += set.Find(_batch.DstAddr[i]) >= 0 ? 1 : 0;
        return found;
    }

    [GlobalCleanup]
    public void Cleanup() => _service.DisposeAsync().AsTask().GetAwaiter().GetResult();
}
