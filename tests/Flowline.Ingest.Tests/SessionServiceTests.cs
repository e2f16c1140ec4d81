using Flowline.Records;
using Flowline.Storage.Embedded;
using Microsoft.Extensions.Logging.Abstractions;

namespace Flowline.Ingest.Tests;

public sealed class SessionServiceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("flowline-session-service-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// A flood of new conversations that fills the table before a second has passed: the flush the table
    /// asks for raises the input sampling at once (a second's budget came sooner than a second), rather
    /// than holding every session for the rest of the second.
    /// </summary>
    [Fact]
    public void A_flood_that_fills_the_table_raises_the_input_sampling_at_the_flush_it_asks_for()
    {
        var options = new CollectorOptions { DataDir = _dir, SessionMaxOpen = 20_000, SessionInputRate = 10_000 };
        using var flows = new EmbeddedStore(Path.Combine(_dir, "flows"));
        using var sessions = new SessionService(options, root => new EmbeddedStore(root, new EmbeddedStoreOptions { Symbols = flows.Symbols }),
            flows.Symbols!, decoders: 1, NullLogger.Instance, timer: false);
        var batch = new FlowBatch(256);
        var client = FlowAddress.FromV4(0x0A000001);
        var server = FlowAddress.FromV4(0x0A000002);
        for (var n = 0; n < 16_384; n++)
        {
            var r = new FlowRecord
            {
                Start = 1_700_000_000_000_000, End = 1_700_000_000_000_000, Exporter = FlowAddress.FromV4(0x7F000001),
                SrcAddr = client, DstAddr = server, IpProto = 6, SrcPort = (ushort)(1024 + n % 60_000), DstPort = (ushort)(443 + n / 60_000),
                Bytes = 100, Packets = 1,
            };
            batch.Add(r);
            if (batch.Count == 256)
            {
                sessions.Add(0, batch);
                batch.Clear();
            }
        }
        Assert.True(sessions.InputSampling >= 2, $"input sampling {sessions.InputSampling} after 16,384 new sessions against a rate of 10,000 a second");
        Assert.Equal(0, sessions.RecordsDropped);
    }
}
