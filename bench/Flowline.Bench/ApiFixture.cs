using Flowline.Api;
using Flowline.Storage.Embedded;
using Flowline.Records;

namespace Flowline.Bench;

/// <summary>
/// For bench/api-bench.sh: `api-fill DIR FLOWS HOURS` stores FLOWS flows of acc-a (and a quarter as many of
/// acc-b) spread evenly over the HOURS ending an hour ago, and prints a key of acc-a; `api-sign ...` prints
/// a signed URL or Authorization header for curl.
/// </summary>
public static class ApiFixture
{
    public static void Fill(string dir, int flows, double hours)
    {
        var end = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 3600 * 3600 - 3600);
        var start = end.AddHours(-hours);
        using var store = new EmbeddedStore(dir);
        var a = store.Symbols.Intern("acc-a");
        var b = store.Symbols.Intern("acc-b");
        var vmis = Enumerable.Range(0, 64).Select(i => store.Symbols.Intern($"acc-a:vmi-{i}")).ToArray();
        var vn = store.Symbols.Intern("default-domain:acc-a:net");
        var rule = store.Symbols.Intern("bc5b4e1a-6403-4cf7-9b8a-c3e7d105dcf0");
        var total = flows + flows / 4;
        var span = (end - start).Ticks / 10;
        var batch = new FlowBatch();
        var random = new Random(1);
        for (var i = 0; i < total; i++)
        {
            var t = start.ToUnixTimeMilliseconds() * 1000 + (long)((double)i / total * span);
            var mine = i % 5 != 4;
            batch.Add(new FlowRecord
            {
                TimeReceived = t, Start = t, End = t + random.Next(1, 30_000_000), Protocol = FlowProtocol.Ipfix, Exporter = FlowAddress.FromV4(0xC0000201),
                IpVersion = 4, IpProto = 6, SrcAddr = FlowAddress.FromV4(0x0A000000u | (uint)random.Next(1 << 16)), DstAddr = FlowAddress.FromV4(0x0A010000u | (uint)random.Next(1 << 16)),
                SrcPort = (ushort)random.Next(1024, 65536), DstPort = 443, Bytes = (ulong)random.Next(64, 1_000_000), Packets = (ulong)random.Next(1, 1000), SamplingRate = 1,
                Account = mine ? a : b, Vmi = mine ? vmis[i % 64] : 0, VmiDirection = (byte)(i % 2 == 0 ? VmiDirections.Ingress : VmiDirections.Egress),
                SrcVn = mine ? vn : 0, Action = FlowAction.Pass, SgRule = rule,
            });
            if (batch.Count == 16384)
            {
                store.Append(batch);
                batch.Clear();
            }
        }
        store.Append(batch);
        store.Flush();
        var key = KeyStore.Open(dir).Create("acc-a", admin: false);
        Console.WriteLine($"{key.Id} {key.Secret} {start.ToUnixTimeSeconds()} {end.ToUnixTimeSeconds()}");
    }

    /// <summary>`api-sign v1 KEY SECRET METHOD PATH QUERY` prints an Authorization header; `api-sign action KEY SECRET HOSTPORT QUERY` a signed query string.</summary>
    public static void Sign(string[] a)
    {
        static List<KeyValuePair<string, string>> Parse(string q) =>
            q.Split('&', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).Select(p => KeyValuePair.Create(Uri.UnescapeDataString(p[0]), Uri.UnescapeDataString(p.Length > 1 ? p[1] : ""))).ToList();
        if (a[1] == "v1")
        {
            Console.WriteLine(Signatures.ApiAuthorization(a[2], a[3], a[4], a[5], Parse(a[6]), [], DateTimeOffset.UtcNow));
            return;
        }
        var p = Parse(a[5]);
        Signatures.SignAction(p, a[2], a[3], "GET", a[4], DateTimeOffset.UtcNow);
        Console.WriteLine(string.Join('&', p.Select(kv => Signatures.Encode(kv.Key) + "=" + Signatures.Encode(kv.Value))));
    }
}
