using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// Delivers threshold events beyond GET /events/json: as JSON lines to <c>threshold_events_to</c>
/// (files, syslog with MSGID <c>threshold</c>) and as a JSON POST to each of <c>event_webhooks</c>, retried
/// with backoff (0.5, 1, 2, 4, 8 s) before the event is counted as failed for that hook. A slow hook
/// never holds up the decoders: events wait in a bounded queue (oldest dropped and counted when full).
/// </summary>
public sealed class RealtimeEvents : IDisposable
{
    public const int Attempts = 6;
    private readonly List<LineDestination> _destinations = [];
    private readonly IReadOnlyList<Uri> _hooks;
    private readonly Microsoft.Extensions.Logging.ILogger _log;
    private readonly Channel<JsonObject> _queue;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _worker;
    private long _queued, _posted, _failed, _lines, _dropped;

    /// <summary>Events waiting at most; beyond, the oldest is dropped and counted.</summary>
    public const int QueueCapacity = 10_000;

    public RealtimeEvents(CollectorOptions options, Microsoft.Extensions.Logging.ILogger log)
    {
        _log = log;
        _queue = Channel.CreateBounded<JsonObject>(new BoundedChannelOptions(QueueCapacity) { FullMode = BoundedChannelFullMode.DropOldest },
            _ => Interlocked.Increment(ref _dropped));
        _hooks = options.EventWebhooks;
        foreach (var d in options.ThresholdEventsTo) _destinations.Add(new LineDestination(SessionService.Sink(d, "threshold"), 0));
        _worker = _destinations.Count + _hooks.Count == 0 ? Task.CompletedTask : Task.Run(Run);
    }

    /// <summary>Events handed over, POSTs that succeeded and that failed after every attempt, lines written.</summary>
    public (long Queued, long Posted, long Failed, long Lines) Counts =>
        (Interlocked.Read(ref _queued), Interlocked.Read(ref _posted), Interlocked.Read(ref _failed), Interlocked.Read(ref _lines));

    /// <summary>Events dropped, oldest first, because <see cref="QueueCapacity"/> were waiting for slow destinations.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public void Raise(JsonObject e)
    {
        if (_destinations.Count + _hooks.Count == 0) return;
        Interlocked.Increment(ref _queued);
        _queue.Writer.TryWrite(e);
    }

    private async Task Run()
    {
        try
        {
            await foreach (var e in _queue.Reader.ReadAllAsync(_stop.Token))
            {
                var line = e.ToJsonString(ReadableJson.Serializer);
                foreach (var d in _destinations)
                {
                    d.Add(line);
                    d.Send(_log);
                    Interlocked.Increment(ref _lines);
                }
                await Task.WhenAll(_hooks.Select(h => Post(h, e)));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task Post(Uri hook, JsonObject e)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        for (var attempt = 1; ; attempt++)
        {
            string problem;
            try
            {
                using var response = await _http.PostAsJsonAsync(hook, e, _stop.Token);
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _posted);
                    return;
                }
                problem = $"HTTP {(int)response.StatusCode}";
            }
            catch (Exception x) when (x is HttpRequestException or TaskCanceledException && !_stop.IsCancellationRequested)
            {
                problem = x.Message;
            }
            if (attempt == Attempts)
            {
                Interlocked.Increment(ref _failed);
                IngestLog.EventNotDelivered(_log, hook.ToString(), e["eventID"]?.ToString() ?? "", Attempts, problem ?? "");
                return;
            }
            await Task.Delay(delay, _stop.Token);
            delay *= 2;
        }
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        // Events still queued get a moment to go out; then the retries stop.
        if (!_worker.Wait(TimeSpan.FromSeconds(2))) _stop.Cancel();
        try
        {
            _worker.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
        foreach (var d in _destinations) d.Sink.Dispose();
        _http.Dispose();
        _stop.Dispose();
    }
}
