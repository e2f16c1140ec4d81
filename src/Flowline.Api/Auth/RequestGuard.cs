using System.Collections.Concurrent;
using System.Globalization;
using System.Net;

namespace Flowline.Api;

/// <summary>Why a request was refused: the HTTP status, a code and a message that says what to change.</summary>
public sealed record ApiError(int Status, string Code, string Message);

/// <summary>
/// What every signed request passes before it is served: the sender is not blocked for repeated failures,
/// the timestamp is within <see cref="Window"/> of now, the key exists and is not revoked, the signature
/// matches (compared in constant time), and the same signature was not already served (replay).
/// </summary>
public sealed class RequestGuard(KeyStore keys, TimeProvider? time = null, int failureLimit = RequestGuard.FailureLimit)
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);
    /// <summary>Failures from one address within <see cref="FailureSpan"/> after which it is refused until the span ends.</summary>
    public const int FailureLimit = 20;
    public static readonly TimeSpan FailureSpan = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, (long Expiry, string Key)> _seen = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, System.Runtime.CompilerServices.StrongBox<int>> _remembered = new(StringComparer.Ordinal);

    /// <summary>
    /// Signed requests one key may make within <see cref="Window"/> (200 a second over it): each signature is
    /// remembered for the replay check until its timestamp leaves the window, so this bounds what a key holds.
    /// </summary>
    public int MaxRequestsPerKey { get; init; } = 60_000;
    private readonly ConcurrentDictionary<IPAddress, Failures> _failures = new();

    /// <summary>Senders with recent failures held at most; past that, the oldest spans are forgotten first.</summary>
    public const int MaxFailureEntries = 100_000;

    /// <summary>Who failures count against: an IPv4 address, or an IPv6 /64 (one host usually holds a whole /64).</summary>
    public static IPAddress Bucket(IPAddress a)
    {
        if (a.IsIPv4MappedToIPv6) return a.MapToIPv4();
        if (a.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return a;
        var bytes = a.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes);
    }

    /// <summary>Senders whose failures are being counted now.</summary>
    public int FailureEntries => _failures.Count;
    private long _nextPurge;

    public KeyStore Keys => keys;
    public DateTimeOffset Now => _time.GetUtcNow();

    private sealed class Failures
    {
        public long SpanStart;
        public int Count;
    }

    /// <summary>Refuses an address that failed too often lately (429), before any other work.</summary>
    public ApiError? Blocked(IPAddress? from)
    {
        if (from is null || !_failures.TryGetValue(Bucket(from), out var f)) return null;
        lock (f)
        {
            var now = Now.ToUnixTimeMilliseconds();
            if (now - f.SpanStart >= FailureSpan.TotalMilliseconds) return null;
            if (f.Count < failureLimit) return null;
            var wait = (int)Math.Ceiling((f.SpanStart + FailureSpan.TotalMilliseconds - now) / 1000);
            return new ApiError(429, "RequestLimitExceeded",
                $"too many failed requests from {from} ({f.Count} in the last minute); try again in {wait} s with a correctly signed request");
        }
    }

    /// <summary>Counts a failed request (bad signature, bad password, refused read) against its sender.</summary>
    public void Fail(IPAddress? from)
    {
        if (from is null) return;
        var now0 = Now.ToUnixTimeMilliseconds();
        Purge(now0);
        if (_failures.Count >= MaxFailureEntries) Evict(now0);
        var f = _failures.GetOrAdd(Bucket(from), _ => new Failures());
        lock (f)
        {
            var now = Now.ToUnixTimeMilliseconds();
            if (now - f.SpanStart >= FailureSpan.TotalMilliseconds)
            {
                f.SpanStart = now;
                f.Count = 0;
            }
            f.Count++;
        }
    }

    /// <summary>
    /// Checks a request's key, timestamp and signature. <paramref name="expected"/> computes the signature the
    /// request should carry under a secret. Returns the key, or the error to answer with (the failure counted).
    /// </summary>
    public (AccessKey? Key, ApiError? Error) Check(IPAddress? from, string? keyId, string? timestamp, string? signature, Func<string, string> expected,
        string keyParameter, string stringToSignHint)
    {
        if (Blocked(from) is { } blocked) return (null, blocked);
        var error = Verify(keyId, timestamp, signature, expected, keyParameter, stringToSignHint, out var key);
        if (error is not null)
        {
            Fail(from);
            return (null, error);
        }
        return (key, null);
    }

    /// <summary>
    /// What can be checked of a signed request before its body is read: the key exists and is not revoked,
    /// the timestamp lies within the window. The signature over the body is checked once it is read.
    /// </summary>
    public ApiError? Preflight(string? keyId, string? timestamp) => Known(keyId, timestamp, "-", "Credential", out _, out _);

    private ApiError? Known(string? keyId, string? timestamp, string? signature, string keyParameter, out AccessKey? found, out DateTimeOffset at)
    {
        found = null;
        at = default;
        if (string.IsNullOrEmpty(keyId) || string.IsNullOrEmpty(signature) || string.IsNullOrEmpty(timestamp))
        {
            var missing = string.IsNullOrEmpty(keyId) ? keyParameter : string.IsNullOrEmpty(timestamp) ? "Timestamp" : "Signature";
            return new ApiError(401, "AuthFailure", $"the request is not signed: {missing} is missing (sign it with an access key from `flowline keys create`)");
        }
        if (!DateTimeOffset.TryParseExact(timestamp, ["yyyy-MM-ddTHH:mm:ssZ", "yyyy-MM-ddTHH:mm:ss.FFFFFFFZ"], CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out at))
        {
            return new ApiError(401, "AuthFailure", $"Timestamp '{timestamp}' is not a UTC time like 2016-11-08T11:00:00Z");
        }
        var now = Now;
        if ((at - now).Duration() > Window)
        {
            return new ApiError(401, "RequestExpired",
                $"Timestamp {timestamp} is {(at < now ? "older" : "later")} than 5 minutes from the server's time {now.UtcDateTime.ToString(Signatures.ActionTimestampFormat, CultureInfo.InvariantCulture)}; check the client's clock and sign the request again");
        }
        found = keys.Find(keyId);
        if (found is null) return new ApiError(401, "AuthFailure", $"the access key {keyId} does not exist");
        if (found.Revoked is { } revoked)
        {
            return new ApiError(401, "AuthFailure", $"the access key {keyId} was revoked on {revoked.UtcDateTime.ToString(Signatures.ActionTimestampFormat, CultureInfo.InvariantCulture)}; create a new one");
        }
        return null;
    }

    private ApiError? Verify(string? keyId, string? timestamp, string? signature, Func<string, string> expected, string keyParameter, string hint, out AccessKey? key)
    {
        key = null;
        if (Known(keyId, timestamp, signature, keyParameter, out var found, out var at) is { } error) return error;
        if (!Signatures.Same(expected(found!.Secret), signature!))
        {
            return new ApiError(401, "SignatureDoesNotMatch",
                $"the signature does not match the request: check the secret key, and that the request was signed as {hint}");
        }
        // A signature is served once; the timestamp window bounds how long it must be remembered.
        var expiry = at.Add(Window).ToUnixTimeMilliseconds();
        const string replayed = "this signed request was already received; sign every request anew (a new Timestamp makes a new signature)";
        if (_seen.ContainsKey(signature!)) return new ApiError(401, "RequestReplayed", replayed);
        var held = _remembered.GetOrAdd(found.Id, _ => new System.Runtime.CompilerServices.StrongBox<int>());
        if (Interlocked.Increment(ref held.Value) > MaxRequestsPerKey)
        {
            Interlocked.Decrement(ref held.Value);
            Purge(Now.ToUnixTimeMilliseconds());
            return new ApiError(429, "RequestLimitExceeded",
                $"the access key {found.Id} made more than {MaxRequestsPerKey} requests within {Window.TotalMinutes:0} minutes: slow down, or give each client a key of its own");
        }
        if (!_seen.TryAdd(signature!, (expiry, found.Id)))
        {
            Interlocked.Decrement(ref held.Value);
            return new ApiError(401, "RequestReplayed", replayed);
        }
        Purge(Now.ToUnixTimeMilliseconds());
        key = found;
        return null;
    }

    /// <summary>At the cap: forgets expired spans, then the oldest half, so the map stays bounded whatever senders try.</summary>
    private void Evict(long now)
    {
        foreach (var (address, f) in _failures)
        {
            lock (f)
            {
                if (now - f.SpanStart >= FailureSpan.TotalMilliseconds) _failures.TryRemove(address, out _);
            }
        }
        if (_failures.Count < MaxFailureEntries) return;
        var oldest = _failures.OrderBy(kv => Volatile.Read(ref kv.Value.SpanStart)).Take(_failures.Count / 2).Select(kv => kv.Key).ToList();
        foreach (var a in oldest) _failures.TryRemove(a, out _);
    }

    private void Purge(long now)
    {
        if (now < Interlocked.Read(ref _nextPurge)) return;
        Interlocked.Exchange(ref _nextPurge, now + 10_000);
        foreach (var (signature, (expiry, key)) in _seen)
        {
            if (expiry < now && _seen.TryRemove(signature, out _) && _remembered.TryGetValue(key, out var held)) Interlocked.Decrement(ref held.Value);
        }
        foreach (var (address, f) in _failures)
        {
            lock (f)
            {
                if (now - f.SpanStart >= FailureSpan.TotalMilliseconds) _failures.TryRemove(address, out _);
            }
        }
    }
}
