using System.Text.Json.Nodes;

namespace Flowline.Realtime;

/// <summary>
/// The last entries of a stream (logged flows, threshold events) numbered from 1, for sFlow-RT's
/// long-poll APIs: a reader gives the last number it saw and waits until something newer arrives.
/// </summary>
public sealed class Journal(int capacity, string idField, int maxWaiters = 1_000)
{
    private int _waiters;

    /// <summary>Readers waiting now.</summary>
    public int Waiters => Volatile.Read(ref _waiters);

    private readonly Lock _lock = new();
    private readonly Queue<(long Id, JsonObject Entry)> _entries = new();
    private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _last;

    public long Last
    {
        get
        {
            lock (_lock) return _last;
        }
    }

    /// <summary>Numbers the entry (its <c>idField</c>), keeps it, and wakes the readers waiting.</summary>
    public long Add(JsonObject entry)
    {
        TaskCompletionSource arrived;
        long id;
        lock (_lock)
        {
            id = ++_last;
            entry[idField] = id;
            _entries.Enqueue((id, entry));
            while (_entries.Count > capacity) _entries.Dequeue();
            arrived = _arrived;
            _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        arrived.TrySetResult();
        return id;
    }

    /// <summary>
    /// Entries numbered above <paramref name="after"/> that <paramref name="match"/> accepts, newest first, at
    /// most <paramref name="max"/>; when there are none, waits up to <paramref name="timeout"/> for one.
    /// </summary>
    public async Task<JsonArray> Read(long after, int max, TimeSpan timeout, Func<JsonObject, bool>? match, CancellationToken cancel)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Task arrived;
            var found = new List<JsonObject>();
            lock (_lock)
            {
                foreach (var (id, entry) in _entries.Reverse())
                {
                    if (id <= after || found.Count >= max) break;
                    if (match is null || match(entry)) found.Add(entry);
                }
                arrived = _arrived.Task;
            }
            var left = deadline - DateTime.UtcNow;
            if (found.Count > 0 || left <= TimeSpan.Zero) return new JsonArray(found.Select(e => (JsonNode)e.DeepClone()).ToArray());
            if (Interlocked.Increment(ref _waiters) > maxWaiters)
            {
                Interlocked.Decrement(ref _waiters);
                throw new RealtimeLimitException($"{maxWaiters} readers are waiting already: poll without timeout, or again later");
            }
            try
            {
                await arrived.WaitAsync(left, cancel);
            }
            catch (TimeoutException)
            {
            }
            finally
            {
                Interlocked.Decrement(ref _waiters);
            }
        }
    }
}
