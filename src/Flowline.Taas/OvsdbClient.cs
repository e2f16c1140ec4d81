using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Flowline.Wire.Ovsdb;

namespace Flowline.Taas;

/// <summary>An error the database answered (RFC 7047 "error" member, or an operation's error in a transaction).</summary>
public sealed class OvsdbException(string message) : Exception(message);

/// <summary>
/// A JSON-RPC connection to ovsdb-server (RFC 7047): <c>transact</c>, <c>monitor</c> with its
/// <c>update</c> notifications, and answers to the server's <c>echo</c> keep-alives. Endpoints are written
/// as OVS writes them: <c>unix:PATH</c> or <c>tcp:HOST:PORT</c>. One reader task parses the stream
/// (<see cref="JsonRpcFramer"/>: size and depth limited); a broken stream fails every pending request and
/// completes <see cref="Closed"/>.
/// </summary>
public sealed class OvsdbClient : IAsyncDisposable
{
    public const string Database = "Open_vSwitch";
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonNode?>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _next;
    private readonly Task _reader;

    private OvsdbClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = Task.Run(ReadLoop);
    }

    /// <summary>Raised (on the reader task) with each <c>update</c> notification's table updates.</summary>
    public event Action<JsonNode?>? Updated;

    /// <summary>Completes when the connection ends, for whatever reason.</summary>
    public Task Closed => _closed.Task;

    public static async Task<OvsdbClient> ConnectAsync(string endpoint, CancellationToken cancel = default)
    {
        Socket socket;
        EndPoint target;
        if (endpoint.StartsWith("unix:", StringComparison.Ordinal))
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            target = new UnixDomainSocketEndPoint(endpoint[5..]);
        }
        else if (endpoint.StartsWith("tcp:", StringComparison.Ordinal) && endpoint.LastIndexOf(':') is var colon && colon > 4
                 && int.TryParse(endpoint[(colon + 1)..], out var port) && port is > 0 and < 65536)
        {
            var host = endpoint[4..colon].Trim('[', ']');
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            target = System.Net.IPAddress.TryParse(host, out var ip) ? new System.Net.IPEndPoint(ip, port) : new DnsEndPoint(host, port);
        }
        else throw new FormatException($"'{endpoint}' is not an OVSDB endpoint (unix:PATH or tcp:HOST:PORT)");
        try
        {
            await socket.ConnectAsync(target, cancel);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new OvsdbClient(socket);
    }

    /// <summary>Runs operations in one transaction; the results, or an <see cref="OvsdbException"/> naming the first failed operation.</summary>
    public async Task<JsonArray> TransactAsync(IEnumerable<JsonObject> operations, CancellationToken cancel = default)
    {
        var ops = operations.ToList();
        var result = await CallAsync("transact", [Database, .. ops], cancel) as JsonArray
                     ?? throw new OvsdbException("transact answered no list of results");
        for (var i = 0; i < result.Count; i++)
        {
            if (result[i] is JsonObject r && r["error"] is { } error)
            {
                var op = i < ops.Count ? ops[i]["op"]?.ToString() : "commit";
                throw new OvsdbException($"{op}: {error} {r["details"]}".Trim());
            }
        }
        return result;
    }

    /// <summary>Starts monitoring <paramref name="columns"/> of each table; returns the initial contents (as an update).</summary>
    public Task<JsonNode?> MonitorAsync(string id, IReadOnlyDictionary<string, string[]> columns, CancellationToken cancel = default)
    {
        var requests = new JsonObject();
        foreach (var (table, cols) in columns) requests[table] = new JsonObject { ["columns"] = new JsonArray([.. cols.Select(c => (JsonNode?)c)]) };
        return CallAsync("monitor", [Database, id, requests], cancel);
    }

    public async Task<JsonNode?> CallAsync(string method, JsonArray parameters, CancellationToken cancel = default)
    {
        var id = Interlocked.Increment(ref _next);
        var answer = new TaskCompletionSource<JsonNode?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        if (Closed.IsCompleted) _pending.TryRemove(id, out _);
        if (Closed.IsCompleted) throw new IOException("the OVSDB connection is closed");
        await SendAsync(new JsonObject { ["method"] = method, ["params"] = parameters, ["id"] = id }, cancel);
        using var registration = cancel.Register(() => answer.TrySetCanceled(cancel));
        try
        {
            return await answer.Task;
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    private async Task SendAsync(JsonObject message, CancellationToken cancel)
    {
        var bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
        await _write.WaitAsync(cancel);
        try
        {
            await _stream.WriteAsync(bytes, cancel);
        }
        finally
        {
            _write.Release();
        }
    }

    private async Task ReadLoop()
    {
        var framer = new JsonRpcFramer();
        Exception? failure = null;
        try
        {
            while (true)
            {
                var n = await _stream.ReadAsync(framer.Room(), _stop.Token);
                if (n == 0) break;
                framer.Advance(n);
                while (framer.TryNext(out var text)) await Dispatch(JsonNode.Parse(text.Span));
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or FormatException or System.Text.Json.JsonException or ObjectDisposedException)
        {
            failure = e;
        }
        var closed = new IOException("the OVSDB connection closed" + (failure is null or OperationCanceledException ? "" : ": " + failure.Message));
        _closed.TrySetResult();
        foreach (var (_, pending) in _pending) pending.TrySetException(closed);
    }

    private async Task Dispatch(JsonNode? message)
    {
        if (message is not JsonObject m) return;
        var method = m["method"]?.ToString();
        if (method == "echo")
        {
            // The server's keep-alive: answer with the same parameters, or it drops the connection.
            await SendAsync(new JsonObject { ["result"] = m["params"]?.DeepClone(), ["error"] = null, ["id"] = m["id"]?.DeepClone() }, _stop.Token);
            return;
        }
        if (method == "update")
        {
            Updated?.Invoke(m["params"] is JsonArray { Count: 2 } p ? p[1] : null);
            return;
        }
        if (m["id"] is JsonValue idValue && idValue.TryGetValue<long>(out var id) && _pending.TryGetValue(id, out var answer))
        {
            if (m["error"] is { } error && error.GetValueKind() != System.Text.Json.JsonValueKind.Null) answer.TrySetException(new OvsdbException(error.ToJsonString()));
            else answer.TrySetResult(m["result"]?.DeepClone());
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _socket.Dispose();
        try
        {
            await _reader;
        }
        catch (Exception)
        {
            // The reader ends with the socket; its failure is the connection's end, already reported.
        }
        _stream.Dispose();
        _stop.Dispose();
        _write.Dispose();
    }
}
