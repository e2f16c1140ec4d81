using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;

namespace Flowline.Ingest.Tests;

public sealed class RealtimeEventsTests
{
    [Fact]
    public void Events_a_slow_hook_cannot_take_are_dropped_oldest_first_and_counted()
    {
        // A hook that accepts connections and never answers: each event waits out the POST's timeout.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var options = new CollectorOptions { EventWebhooks = [new Uri($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}/hook")] };
        using var events = new RealtimeEvents(options, NullLogger.Instance);
        const int raised = RealtimeEvents.QueueCapacity + 5_000;
        for (var i = 0; i < raised; i++) events.Raise(new JsonObject { ["eventID"] = i });
        Assert.Equal(raised, events.Counts.Queued);
        // At most one event is out of the queue, with the hook; the rest beyond the capacity are counted.
        Assert.InRange(events.Dropped, raised - RealtimeEvents.QueueCapacity - 1, raised - RealtimeEvents.QueueCapacity);
    }
}
