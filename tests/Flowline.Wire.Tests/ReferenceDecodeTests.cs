using System.Text.Json;
using Flowline.Records;

namespace Flowline.Wire.Tests;

/// <summary>Every shared capture decodes to exactly what tshark and nfdump decoded from it.</summary>
public sealed class ReferenceDecodeTests
{
    public static TheoryData<string> Captures => TestCorpus.CaptureNames();
    public static TheoryData<string> TsharkCaptures => TestCorpus.TsharkCaptures();
    public static TheoryData<string> NfdumpCaptures => TestCorpus.NfdumpCaptures();

    [Fact]
    public void The_reference_corpus_covers_every_protocol()
    {
        // A moved or emptied folder must fail here rather than leave every theory without data.
        var protocols = TestCorpus.ReferencedCaptures().Select(n => FlowDecoder.Detect(TestCorpus.Datagrams(n)[0].Payload)).ToHashSet();
        Assert.Equal([FlowProtocol.SFlow5, FlowProtocol.NetFlow5, FlowProtocol.NetFlow9, FlowProtocol.Ipfix], protocols.Order());
    }

    private static List<FlowRecord> Records(FlowBatch batch) => Enumerable.Range(0, batch.Count).Select(i => batch[i]).ToList();

    [Theory]
    [MemberData(nameof(Captures))]
    public void Datagrams_decode_without_a_fault(string capture)
    {
        var (_, decoder) = TestCorpus.Decode(capture);
        var datagrams = TestCorpus.Datagrams(capture).Count;
        Assert.Equal(datagrams, decoder.Stats.Datagrams);
        Assert.Equal(0, decoder.Stats.MalformedDatagrams);
        Assert.Equal(0, decoder.Templates.PendingSets);
        var totals = Path.Combine(TestCorpus.CapturesDirectory, capture + ".totals.json");
        if (File.Exists(totals))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(totals));
            Assert.Equal(doc.RootElement.GetProperty("datagrams").GetInt64(), datagrams);
        }
    }

    [Theory]
    [MemberData(nameof(TsharkCaptures))]
    public void Records_bytes_packets_and_five_tuples_equal_tshark(string capture)
    {
        var (batch, _) = TestCorpus.Decode(capture);
        var ours = Records(batch);
        var reference = ReferenceDecodes.Tshark(capture);

        Assert.Equal(reference.Count, ours.Count);
        // tshark shows the values on the wire: sFlow frame lengths and one packet per sample, NetFlow/IPFIX deltas.
        Assert.Equal(reference.Aggregate(0UL, (s, r) => s + r.Bytes), ours.Aggregate(0UL, (s, r) => s + r.SampledBytes));
        Assert.Equal(reference.Aggregate(0UL, (s, r) => s + r.Packets), ours.Aggregate(0UL, (s, r) => s + r.SampledPackets));
        AssertSameMultiset(reference.Select(r => (r.Tuple, r.Bytes, r.Packets)),
            ours.Select(r => (FiveTuple.Of(r), r.SampledBytes, r.SampledPackets)), "tshark");
    }

    [Theory]
    [MemberData(nameof(NfdumpCaptures))]
    public void Records_and_five_tuples_equal_nfdump(string capture)
    {
        var (batch, _) = TestCorpus.Decode(capture);
        var ours = Records(batch);
        var reference = ReferenceDecodes.Nfdump(capture);

        Assert.Equal(reference.Count, ours.Count);
        AssertSameMultiset(reference.Select(r => r.Tuple.WithoutIcmpPorts()), ours.Select(r => FiveTuple.Of(r).WithoutIcmpPorts()), "nfdump");
        if (!UsesRunningTotals(capture))
        {
            // nfdump scales sFlow by the sampling rate, as our estimates do.
            Assert.Equal(reference.Aggregate(0UL, (s, r) => s + r.Bytes), ours.Aggregate(0UL, (s, r) => s + r.Bytes));
            Assert.Equal(reference.Aggregate(0UL, (s, r) => s + r.Packets), ours.Aggregate(0UL, (s, r) => s + r.Packets));
        }
    }

    /// <summary>
    /// nfdump 1.7.1 prefers IE 85/86, which Open vSwitch fills with exporter-wide running totals
    /// (captures README); there its byte sums are not traffic and only its rows are compared.
    /// </summary>
    private static bool UsesRunningTotals(string capture)
    {
        var totals = Path.Combine(TestCorpus.CapturesDirectory, capture + ".totals.json");
        if (!File.Exists(totals)) return false;
        using var doc = JsonDocument.Parse(File.ReadAllText(totals));
        return doc.RootElement.GetProperty("tshark").TryGetProperty("bytes_total", out var t) && t.GetInt64() > 0;
    }

    private static void AssertSameMultiset<T>(IEnumerable<T> expected, IEnumerable<T> actual, string reference) where T : notnull
    {
        var counts = new Dictionary<T, int>();
        foreach (var e in expected) counts[e] = counts.GetValueOrDefault(e) + 1;
        foreach (var a in actual) counts[a] = counts.GetValueOrDefault(a) - 1;
        var diff = counts.Where(kv => kv.Value != 0).Take(10)
            .Select(kv => $"{kv.Key}: {(kv.Value > 0 ? $"{reference} has {kv.Value} more" : $"we have {-kv.Value} more")}").ToList();
        Assert.True(diff.Count == 0, $"records differ from {reference}:\n{string.Join("\n", diff)}");
    }
}
