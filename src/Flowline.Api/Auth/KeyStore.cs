using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Flowline.Records;

namespace Flowline.Api;

/// <summary>An access key: its id, the one account it belongs to, whether it is an admin key, and its secret.</summary>
/// <param name="Agent">For an agent key, the one agent (its --name) it speaks for; null for every other key.</param>
public sealed record AccessKey(string Id, string Account, bool Admin, DateTimeOffset Created, DateTimeOffset? Revoked, string Secret, string? Agent = null)
{
    public bool Active => Revoked is null;
}

/// <summary>
/// The access keys of a data directory: <c>keys.json</c> holds each key's id, account, role and state, and its
/// secret encrypted (AES-256-GCM, the key id as associated data) under <c>keys.key</c>, 32 random bytes created
/// with mode 0600 on first use. Writes replace the file atomically; a server re-reads it when it changes, so a
/// key created or revoked from the command line takes effect at the next request.
/// </summary>
public sealed partial class KeyStore
{
    private readonly string _path;
    private readonly string _masterPath;
    private byte[] _master;
    private (DateTime Written, long Length) _masterLoaded;
    private readonly Lock _lock = new();
    private Dictionary<string, AccessKey> _keys = [];
    private (DateTime Written, long Length) _loaded = (DateTime.MinValue, -1);

    [GeneratedRegex("^acc-[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")]
    public static partial Regex AccountPattern();

    private KeyStore(string dataDir, string? keyFile)
    {
        DataDirectory.Create(dataDir);
        _path = Path.Combine(dataDir, "keys.json");
        _masterPath = keyFile ?? Path.Combine(dataDir, "keys.key");
        _master = MasterKey(_masterPath);
        _masterLoaded = Stamp(_masterPath);
    }

    private static (DateTime, long) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1L);
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    public static partial Regex AgentPattern();

    /// <param name="keyFile">The 32-byte file the secrets are sealed under (<c>key_file</c>); default DATA_DIR/keys.key. Kept apart, a copy of the data directory alone opens no secret.</param>
    public static KeyStore Open(string dataDir, string? keyFile = null)
    {
        var store = new KeyStore(dataDir, keyFile);
        store.Refresh();
        return store;
    }

    /// <summary>Every key, revoked ones included, oldest first.</summary>
    public IReadOnlyList<AccessKey> List()
    {
        lock (_lock)
        {
            Refresh();
            return [.. _keys.Values.OrderBy(k => k.Created).ThenBy(k => k.Id, StringComparer.Ordinal)];
        }
    }

    /// <summary>The key with this id, revoked or not; null when there is none.</summary>
    public AccessKey? Find(string id)
    {
        lock (_lock)
        {
            Refresh();
            return _keys.GetValueOrDefault(id);
        }
    }

    /// <param name="agent">Makes an agent key, which speaks for the agent of this name only (and is not an admin key).</param>
    public AccessKey Create(string account, bool admin, string? agent = null)
    {
        if (!AccountPattern().IsMatch(account)) throw new ArgumentException($"'{account}' is not an account id (acc- followed by letters, digits, '-' or '_')");
        if (agent is not null && !AgentPattern().IsMatch(agent)) throw new ArgumentException($"'{agent}' is not an agent name (1 to 64 letters, digits, '.', '_' or '-')");
        if (agent is not null && admin) throw new ArgumentException("an agent key is not an admin key: give --agent or --admin");
        lock (_lock)
        {
            Refresh();
            string id;
            do id = "FLK" + RandomString(17, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
            while (_keys.ContainsKey(id));
            var key = new AccessKey(id, account, admin, Now(), null,
                RandomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"), agent);
            var next = new Dictionary<string, AccessKey>(_keys) { [id] = key };
            Save(next);
            return key;
        }
    }

    /// <summary>Revokes a key; false when there is no such key. Revoking twice keeps the first time.</summary>
    public bool Revoke(string id)
    {
        lock (_lock)
        {
            Refresh();
            if (!_keys.TryGetValue(id, out var key)) return false;
            if (key.Revoked is not null) return true;
            var next = new Dictionary<string, AccessKey>(_keys) { [id] = key with { Revoked = Now() } };
            Save(next);
            return true;
        }
    }

    private static DateTimeOffset Now() => DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    private static string RandomString(int length, string alphabet) => RandomNumberGenerator.GetString(alphabet, length);

    private void Refresh()
    {
        // Both files are read again when they change: an operator copies keys.json and keys.key to another node
        // while it runs (docs/SCALE.md), one after the other.
        var masterStamp = Stamp(_masterPath);
        if (masterStamp != _masterLoaded && masterStamp.Item2 == 32)
        {
            _master = MasterKey(_masterPath);
            _masterLoaded = masterStamp;
            _loaded = (DateTime.MinValue, -2); // the secrets open again under the new key
        }
        var stamp = Stamp(_path);
        if (stamp == _loaded) return;
        try
        {
            _keys = stamp.Item2 >= 0 ? Parse(File.ReadAllBytes(_path)) : [];
        }
        catch (InvalidDataException) when (_loaded.Length >= 0 || _loaded.Length == -2)
        {
            // Half of a copy (keys.json before its keys.key): the keys in force stay until the pair agrees.
            return;
        }
        _loaded = stamp;
    }

    private Dictionary<string, AccessKey> Parse(byte[] json)
    {
        var keys = new Dictionary<string, AccessKey>(StringComparer.Ordinal);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{_path}: not valid JSON ({e.Message})", e);
        }
        foreach (var node in root?["keys"]?.AsArray() ?? [])
        {
            if (node is null) continue;
            var id = (string?)node["id"] ?? throw new InvalidDataException($"{_path}: a key without an id");
            var sealedSecret = Convert.FromBase64String((string?)node["secret"] ?? "");
            keys[id] = new AccessKey(id, (string?)node["account"] ?? "", (bool?)node["admin"] ?? false,
                DateTimeOffset.Parse((string?)node["created"] ?? "1970-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture),
                (string?)node["revoked"] is { } r ? DateTimeOffset.Parse(r, System.Globalization.CultureInfo.InvariantCulture) : null,
                Open(id, sealedSecret), (string?)node["agent"]);
        }
        return keys;
    }

    private void Save(Dictionary<string, AccessKey> keys)
    {
        var array = new JsonArray();
        foreach (var k in keys.Values.OrderBy(k => k.Created).ThenBy(k => k.Id, StringComparer.Ordinal))
        {
            array.Add(new JsonObject
            {
                ["id"] = k.Id,
                ["account"] = k.Account,
                ["admin"] = k.Admin,
                ["created"] = k.Created.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
                ["revoked"] = k.Revoked?.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
                ["secret"] = Convert.ToBase64String(Seal(k.Id, k.Secret)),
            });
            if (k.Agent is not null) ((JsonObject)array[^1]!)["agent"] = k.Agent;
        }
        var text = new JsonObject { ["keys"] = array }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        AtomicFile.WriteText(_path, text + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _keys = keys;
        _loaded = Stamp(_path);
    }

    private byte[] Seal(string id, string secret)
    {
        var plain = Encoding.UTF8.GetBytes(secret);
        var sealedBytes = new byte[12 + plain.Length + 16];
        var nonce = sealedBytes.AsSpan(0, 12);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_master, 16);
        aes.Encrypt(nonce, plain, sealedBytes.AsSpan(12, plain.Length), sealedBytes.AsSpan(12 + plain.Length), Encoding.UTF8.GetBytes(id));
        return sealedBytes;
    }

    private string Open(string id, byte[] sealedBytes)
    {
        if (sealedBytes.Length < 28) throw new InvalidDataException($"{_path}: the secret of key {id} is damaged");
        var plain = new byte[sealedBytes.Length - 28];
        try
        {
            using var aes = new AesGcm(_master, 16);
            aes.Decrypt(sealedBytes.AsSpan(0, 12), sealedBytes.AsSpan(12, plain.Length), sealedBytes.AsSpan(12 + plain.Length), plain, Encoding.UTF8.GetBytes(id));
        }
        catch (AuthenticationTagMismatchException e)
        {
            throw new InvalidDataException($"{_path}: the secret of key {id} does not open with keys.key (a different or damaged key file)", e);
        }
        return Encoding.UTF8.GetString(plain);
    }

    private static byte[] MasterKey(string path)
    {
        if (File.Exists(path))
        {
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length != 32) throw new InvalidDataException($"{path}: expected 32 bytes, found {bytes.Length}");
            return bytes;
        }
        var key = RandomNumberGenerator.GetBytes(32);
        // Two processes creating it at once: the first to link wins and both use its bytes.
        try
        {
            AtomicFile.Write(path, key, UnixFileMode.UserRead | UnixFileMode.UserWrite, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            return File.ReadAllBytes(path);
        }
        return key;
    }
}
