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
        using var sessions = Service(options, flows);
        AddSessions(sessions, 16_384);
        Assert.True(sessions.InputSampling >= 2, $"input sampling {sessions.InputSampling} after 16,384 new sessions against a rate of 10,000 a second");
        Assert.Equal(0, sessions.RecordsDropped);
    }

    /// <summary>
    /// Between flushes (the table far from full): 16,384 new sessions in half a second, 3.3 times
    /// session_input_rate, raise the input sampling to 4 at once; the flush 2.5 seconds into the interval
    /// sets it from the whole interval's 32,768 sessions (13,107 a second): 2.
    /// </summary>
    [Fact]
    public void A_flood_raises_the_input_sampling_before_the_flush_and_the_flush_sets_it_from_the_interval()
    {
        var now = 1_800_000_000_000_000L;
        var options = new CollectorOptions { DataDir = _dir, SessionMaxOpen = 1_000_000, SessionInputRate = 10_000 };
        using var flows = new EmbeddedStore(Path.Combine(_dir, "flows"));
        using var sessions = Service(options, flows, () => now);
        AddSessions(sessions, 16_384);
        Assert.Equal(1, sessions.InputSampling);
        now += 500_000;
        AddSessions(sessions, 16_384, first: 16_384);
        Assert.Equal(4, sessions.InputSampling);
        now += 2_000_000;
        sessions.Tick();
        Assert.Equal(2, sessions.InputSampling);
        Assert.Equal(0, sessions.RecordsDropped);
    }

    /// <summary>
    /// A decoder behind its socket: a queue a quarter full doubles the input sampling at once, whatever the
    /// rate of new sessions; a queue as full a moment later leaves it (the rise has not had time to show), one
    /// still growing half a second later doubles it again, up to four times what the rate asks for; the flushes
    /// keep it as a floor until five seconds pass without a rise, then halve it a step at a time.
    /// </summary>
    [Fact]
    public void A_decoder_behind_its_socket_queue_raises_the_input_sampling_until_it_catches_up()
    {
        var now = 1_800_000_000_000_000L;
        var options = new CollectorOptions { DataDir = _dir, SessionMaxOpen = 1_000_000, SessionInputRate = 1_000_000 };
        using var flows = new EmbeddedStore(Path.Combine(_dir, "flows"));
        using var sessions = Service(options, flows, () => now);
        AddSessions(sessions, 1_000, backlog: 0.2);
        Assert.Equal(1, sessions.InputSampling);
        AddSessions(sessions, 1_000, first: 1_000, backlog: 0.3);
        Assert.Equal(2, sessions.InputSampling);
        now += 100_000;
        AddSessions(sessions, 1_000, first: 2_000, backlog: 0.4);
        Assert.Equal(2, sessions.InputSampling);
        now += 500_000;
        AddSessions(sessions, 1_000, first: 3_000, backlog: 0.3);
        Assert.Equal(2, sessions.InputSampling);
        AddSessions(sessions, 1_000, first: 4_000, backlog: 0.45);
        Assert.Equal(4, sessions.InputSampling);
        // Four times what the rate asks for (1) is as far as the backlog goes, however full the queue.
        now += 600_000;
        AddSessions(sessions, 1_000, first: 5_000, backlog: 0.7);
        Assert.Equal(4, sessions.InputSampling);
        Assert.Equal(2, sessions.BacklogRaises);
        // Caught up: a few thousand new sessions a second want no sampling, but the floor holds for five seconds, then halves.
        now += 2_000_000;
        AddSessions(sessions, 1_000, first: 6_000, backlog: 0.01);
        sessions.Tick();
        Assert.Equal(4, sessions.InputSampling);
        foreach (var expected in new[] { 2, 1, 1 })
        {
            now += 5_000_000;
            sessions.Tick();
            Assert.Equal(expected, sessions.InputSampling);
        }
        // Behind again: an eighth of the queue more than at the last rise rises at once, without waiting half a second.
        AddSessions(sessions, 1_000, first: 7_000, backlog: 0.3);
        Assert.Equal(2, sessions.InputSampling);
        AddSessions(sessions, 1_000, first: 8_000, backlog: 0.44);
        Assert.Equal(4, sessions.InputSampling);
        Assert.Equal(0, sessions.RecordsDropped);
    }

    /// <summary>A session service with one decoder and no timer (the tests flush), its store beside <paramref name="flows"/>.</summary>
    private static SessionService Service(CollectorOptions options, EmbeddedStore flows, Func<long>? clock = null) =>
        new(options, root => new EmbeddedStore(root, new EmbeddedStoreOptions { Symbols = flows.Symbols }), flows.Symbols!, decoders: 1,
            NullLogger.Instance, timer: false, clock: clock);

    /// <summary>Adds <paramref name="count"/> one-record sessions (distinct client ports), 256 at a time as a decoder does.</summary>
    private static void AddSessions(SessionService sessions, int count, int first = 0, double backlog = 0)
    {
        var batch = new FlowBatch(256);
        for (var n = first; n < first + count; n++)
        {
            batch.Add(new FlowRecord
            {
                Start = 1_700_000_000_000_000, End = 1_700_000_000_000_000, Exporter = FlowAddress.FromV4(0x7F000001),
                SrcAddr = FlowAddress.FromV4(0x0A000001), DstAddr = FlowAddress.FromV4(0x0A000002), IpProto = 6,
                SrcPort = (ushort)(1024 + n % 60_000), DstPort = (ushort)(443 + n / 60_000), Bytes = 100, Packets = 1,
            });
            if (batch.Count == 256 || n == first + count - 1)
            {
                sessions.Add(0, batch, backlog);
                batch.Clear();
            }
        }
    }
}
