using System.Globalization;

namespace Flowline.Storage.ClickHouse;

/// <summary>
/// Where a ClickHouse store is, written as one address: <c>clickhouse://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE</c>
/// with <c>?cluster=NAME</c> for a cluster and <c>&amp;shards=HOST:PORT,HOST:PORT</c> when the shards' HTTP
/// addresses are not the cluster's hosts on the same port. PORT is the HTTP port (default 8123).
/// </summary>
public static class ClickHouseLocation
{
    public const string Scheme = "clickhouse";
    public const int DefaultPort = 8123;

    /// <summary>The store's options from its address; <see cref="FormatException"/> naming what is wrong.</summary>
    public static ClickHouseStoreOptions Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme != Scheme || string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException($"'{text}': expected clickhouse://HOST[:PORT]/DATABASE[?cluster=NAME&shards=HOST:PORT,...]");
        }
        var database = uri.AbsolutePath.Trim('/');
        if (database.Length == 0) database = "flowline";
        if (!database.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')) throw new FormatException($"'{database}': a database name is letters, digits and _");
        var port = uri.IsDefaultPort || uri.Port <= 0 ? DefaultPort : uri.Port;
        var http = new UriBuilder("http", uri.Host, port) { UserName = uri.UserInfo.Split(':')[0] };
        if (uri.UserInfo.Contains(':', StringComparison.Ordinal)) http.Password = uri.UserInfo.Split(':', 2)[1];
        string? cluster = null;
        List<Uri>? shards = null;
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var (key, value) = pair.IndexOf('=', StringComparison.Ordinal) is var eq and > 0
                ? (pair[..eq], Uri.UnescapeDataString(pair[(eq + 1)..]))
                : (pair, "");
            switch (key)
            {
                case "cluster":
                    if (value.Length == 0 || !value.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')) throw new FormatException($"cluster '{value}': letters, digits and _");
                    cluster = value;
                    break;
                case "shards":
                    shards = [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => Shard(s, http))];
                    if (shards.Count == 0) throw new FormatException("shards: at least one HOST:PORT");
                    break;
                default:
                    throw new FormatException($"'{key}': the options are cluster and shards");
            }
        }
        if (shards is not null && cluster is null) throw new FormatException("shards needs a cluster (?cluster=NAME&shards=...)");
        return new ClickHouseStoreOptions { Url = http.Uri, Database = database, Cluster = cluster, Shards = shards };
    }

    private static Uri Shard(string text, UriBuilder like)
    {
        var colon = text.LastIndexOf(':');
        var host = colon > 0 && !text.EndsWith(']') ? text[..colon] : text;
        var port = DefaultPort;
        if (colon > 0 && !text.EndsWith(']') && !int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port))
        {
            throw new FormatException($"shard '{text}': expected HOST:PORT");
        }
        return new UriBuilder("http", host.Trim('[', ']'), port) { UserName = like.UserName, Password = like.Password }.Uri;
    }

    /// <summary>The address again, without the password: what logs and `--help` show.</summary>
    public static string Describe(ClickHouseStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var text = $"{Scheme}://{options.Url.Host}:{options.Url.Port}/{options.Database}";
        if (options.Cluster is not null) text += $"?cluster={options.Cluster}";
        if (options.Shards is { } shards) text += "&shards=" + string.Join(',', shards.Select(s => $"{s.Host}:{s.Port}"));
        return text;
    }
}
