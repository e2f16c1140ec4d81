using Flowline.Records;

namespace Flowline.Wire.Tests;

/// <summary>Every strict prefix of every captured datagram is rejected with a reason, never with an exception.</summary>
public sealed class TruncationTests
{
    public static TheoryData<string> Captures => TestCorpus.CaptureNames();

    [Theory]
    [MemberData(nameof(Captures))]
    public void Every_truncation_is_counted_with_a_reason(string capture)
    {
        var decoder = new FlowDecoder();
        var batch = new FlowBatch();
        long prefixes = 0;
        foreach (var d in TestCorpus.Datagrams(capture))
        {
            for (var length = 0; length < d.Payload.Length; length++)
            {
                batch.Clear();
                var result = decoder.Decode(d.Payload.AsSpan(0, length), d.Source, d.Timestamp, batch);
                Assert.False(result.IsOk, $"{capture}: a {length}-byte prefix of a {d.Payload.Length}-byte datagram decoded as complete");
                Assert.NotEqual(DecodeError.Internal, result.Error);
                prefixes++;
            }
            batch.Clear();
            Assert.True(decoder.Decode(d.Payload, d.Source, d.Timestamp, batch).IsOk);
        }
        Assert.Equal(prefixes, decoder.Stats.MalformedDatagrams);
        Assert.Equal(decoder.Stats.MalformedDatagrams, decoder.Stats.MalformedByReason.Sum());
        Assert.Equal(0, decoder.Stats.MalformedByReason[(int)DecodeError.Internal]);
    }
}
