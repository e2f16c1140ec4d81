using System.Net;
using System.Text;

namespace Flowline.Storage.ClickHouse;

/// <summary>
/// ClickHouse refused a statement, could not be reached, or answered what cannot be read: its error code and
/// message, as the server gave them. An I/O error of the store, as a full disk is one for the embedded store.
/// </summary>
public sealed class ClickHouseException(int code, string message, string server) : IOException($"{server}: {message}")
{
    /// <summary>The server's error code (0 when the answer carried none: a proxy or a dropped connection).</summary>
    public int Code { get; } = code;
}

/// <summary>
/// One ClickHouse server over its HTTP interface: statements as the request body, data in the Native
/// format (columns as arrays, no row conversion either way). The official driver is not used: it sends
/// settings the 18.x servers still in distributions reject (`output_format_binary_write_json_as_string`),
/// while the HTTP interface with Native blocks is the same from 18.x to today.
/// </summary>
public sealed class ClickHouseClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _query;

    /// <param name="url">http://host:port, with optional user and password (http://user:password@host:port).</param>
    /// <param name="database">The database statements run in.</param>
    public ClickHouseClient(Uri url, string database, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.Scheme is not ("http" or "https")) throw new ArgumentException($"'{url}': a ClickHouse HTTP address (http://host:8123)", nameof(url));
        Url = new Uri(url.GetLeftPart(UriPartial.Authority) + "/");
        Database = database;
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30), ConnectTimeout = TimeSpan.FromSeconds(5) })
        {
            Timeout = timeout ?? TimeSpan.FromMinutes(10),
        };
        if (!string.IsNullOrEmpty(url.UserInfo))
        {
            var parts = url.UserInfo.Split(':', 2);
            _http.DefaultRequestHeaders.Add("X-ClickHouse-User", Uri.UnescapeDataString(parts[0]));
            if (parts.Length == 2) _http.DefaultRequestHeaders.Add("X-ClickHouse-Key", Uri.UnescapeDataString(parts[1]));
        }
        _query = $"?database={Uri.EscapeDataString(database)}";
    }

    public Uri Url { get; }

    public string Database { get; }

    /// <summary>Runs a statement that returns text (DDL, a small SELECT in TabSeparated) and returns it.</summary>
    public string Execute(string sql, string? settings = null)
    {
        using var response = Send(new StringContent(sql, Encoding.UTF8), settings, HttpCompletionOption.ResponseContentRead);
        using var reader = new StreamReader(response.Content.ReadAsStream(), Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>
    /// Runs a SELECT whose answer is read as a stream (`FORMAT Native`); the caller disposes the response. A read
    /// refused with UNEXPECTED_PACKET_FROM_CLIENT (101) is sent again, twice at most: a server of a cluster can
    /// hand it a connection to another shard that a cancelled read (a listing cut at its limit) left with data
    /// unread, and drops that connection with the error. Nothing was answered yet, and a read changes nothing.
    /// </summary>
    public HttpResponseMessage Query(string sql, string? settings = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return Send(new StringContent(sql, Encoding.UTF8), settings, HttpCompletionOption.ResponseHeadersRead);
            }
            catch (ClickHouseException e) when (e.Code == UnexpectedPacketFromClient && attempt < 3)
            {
                // The stale connection is gone with the error: the next one is fresh.
            }
        }
    }

    private const int UnexpectedPacketFromClient = 101;

    /// <summary>Sends <paramref name="body"/> as the data of an INSERT: <paramref name="insert"/> goes in the URL (`INSERT INTO t FORMAT Native`).</summary>
    public void Insert(string insert, ReadOnlyMemory<byte> body, string? settings = null)
    {
        var content = new ReadOnlyMemoryContent(body);
        using var response = Send(content, (settings is null ? "" : settings + "&") + "query=" + Uri.EscapeDataString(insert), HttpCompletionOption.ResponseContentRead);
    }

    /// <summary>
    /// Sends the same insert to every server (names and shared state live on each shard, so one shard down
    /// loses none of them); throws the last refusal only when no server took it.
    /// </summary>
    public static void InsertEverywhere(IEnumerable<ClickHouseClient> servers, string insert, ReadOnlyMemory<byte> body)
    {
        ArgumentNullException.ThrowIfNull(servers);
        ClickHouseException? last = null;
        var written = 0;
        foreach (var server in servers)
        {
            try
            {
                server.Insert(insert, body);
                written++;
            }
            catch (ClickHouseException e)
            {
                last = e;
            }
        }
        if (written == 0) throw last ?? new ClickHouseException(0, "no server to write to", "ClickHouse");
    }

    private HttpResponseMessage Send(HttpContent content, string? settings, HttpCompletionOption completion)
    {
        var uri = new Uri(Url, _query + (string.IsNullOrEmpty(settings) ? "" : "&" + settings));
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = _http.Send(request, completion);
        }
        catch (HttpRequestException e)
        {
            throw new ClickHouseException(0, $"cannot reach ClickHouse: {e.Message}", Url.Authority);
        }
        catch (TaskCanceledException)
        {
            throw new ClickHouseException(0, $"no answer within {_http.Timeout.TotalSeconds:0} s", Url.Authority);
        }
        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            string text;
            try
            {
                using var reader = new StreamReader(response.Content.ReadAsStream(), Encoding.UTF8);
                text = reader.ReadToEnd().Trim();
            }
            catch (HttpRequestException e)
            {
                text = e.Message;
            }
            var code = 0;
            if (response.Headers.TryGetValues("X-ClickHouse-Exception-Code", out var codes)) int.TryParse(codes.FirstOrDefault(), out code);
            else if (text.StartsWith("Code: ", StringComparison.Ordinal))
            {
                var end = text.IndexOf(',', StringComparison.Ordinal);
                if (end > 6) int.TryParse(text.AsSpan(6, end - 6), out code);
            }
            if (text.Length > 2000) text = text[..2000] + "…";
            throw new ClickHouseException(code, response.StatusCode == HttpStatusCode.OK ? text : $"HTTP {(int)response.StatusCode}: {text}", Url.Authority);
        }
    }

    /// <summary>A string literal in single quotes with ClickHouse's escapes: for names that go into statements.</summary>
    public static string Quote(string value)
    {
        var b = new StringBuilder(value.Length + 2).Append('\'');
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': b.Append("\\\\"); break;
                case '\'': b.Append("\\'"); break;
                case '\0': b.Append("\\0"); break;
                case '\n': b.Append("\\n"); break;
                case '\r': b.Append("\\r"); break;
                case '\t': b.Append("\\t"); break;
                default: b.Append(c); break;
            }
        }
        return b.Append('\'').ToString();
    }

    /// <summary>An identifier (database, table, column) in backquotes; refuses what needs escaping.</summary>
    public static string Identifier(string name)
    {
        if (name.Length == 0 || name.Length > 200 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
        {
            throw new ArgumentException($"'{name}': names are letters, digits and _ only");
        }
        return $"`{name}`";
    }

    public void Dispose() => _http.Dispose();
}
