using System.Net;

namespace Flowline.Api.Tests;

/// <summary>Brute-force counting: per IPv4 address or IPv6 /64, and a map that stays bounded whatever senders try.</summary>
public sealed class RequestGuardTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-guard-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Failures_count_per_ipv6_64_and_per_ipv4_address()
    {
        var guard = new RequestGuard(KeyStore.Open(_dir.FullName), failureLimit: 3);
        foreach (var a in new[] { "2001:db8::1", "2001:db8::2", "2001:db8::ffff:1" }) guard.Fail(IPAddress.Parse(a));
        // Other addresses of the same /64 are the same sender; the next /64 is not.
        Assert.Equal(429, guard.Blocked(IPAddress.Parse("2001:db8::77"))?.Status);
        Assert.Null(guard.Blocked(IPAddress.Parse("2001:db8:0:1::1")));
        Assert.Null(guard.Blocked(IPAddress.Parse("192.0.2.1")));
        foreach (var _ in Enumerable.Range(0, 3)) guard.Fail(IPAddress.Parse("::ffff:192.0.2.1"));
        Assert.Equal(429, guard.Blocked(IPAddress.Parse("192.0.2.1"))?.Status);
        Assert.Null(guard.Blocked(IPAddress.Parse("192.0.2.2")));
    }

    [Fact]
    public void The_failure_map_stays_under_its_cap()
    {
        var guard = new RequestGuard(KeyStore.Open(_dir.FullName));
        for (var i = 0; i < RequestGuard.MaxFailureEntries + 20_000; i++) guard.Fail(new IPAddress((uint)i + 0x01000000u));
        Assert.True(guard.FailureEntries <= RequestGuard.MaxFailureEntries, $"{guard.FailureEntries} entries");
    }

    [Fact]
    public void A_key_holds_a_bounded_number_of_remembered_signatures_and_others_keys_are_not_refused_for_it()
    {
        var keys = KeyStore.Open(_dir.FullName);
        var guard = new RequestGuard(keys, failureLimit: 1_000) { MaxRequestsPerKey = 5 };
        AccessKey busy = keys.Create("acc-a", admin: false), other = keys.Create("acc-b", admin: false);
        var now = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        (AccessKey? Key, ApiError? Error) Send(AccessKey k, int n) =>
            guard.Check(IPAddress.Loopback, k.Id, now, $"{k.Id}-{n}", _ => $"{k.Id}-{n}", "Credential", "the docs say");
        for (var n = 0; n < 5; n++) Assert.Null(Send(busy, n).Error);
        var refused = Send(busy, 5).Error;
        Assert.Equal((429, "RequestLimitExceeded"), (refused?.Status, refused?.Code));
        Assert.Contains("made more than 5 requests within 5 minutes", refused!.Message, StringComparison.Ordinal);
        // A replay of a signature already served is still a replay, and other keys go on.
        Assert.Equal("RequestReplayed", Send(busy, 0).Error?.Code);
        Assert.Null(Send(other, 0).Error);
    }
}
