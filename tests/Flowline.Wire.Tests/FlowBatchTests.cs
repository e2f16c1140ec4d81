using Flowline.Wire.Generation;
using Flowline.Wire.Records;

namespace Flowline.Wire.Tests;

public sealed class FlowBatchTests
{
    [Fact]
    public void AppendRange_copies_every_column_like_row_by_row_adds()
    {
        var g = new TrafficGenerator(8, hosts: 100);
        var source = new FlowBatch(16);
        for (var i = 0; i < 5000; i++) source.Add(g.Next());
        var byRange = new FlowBatch(16);
        byRange.Add(source[0]);
        byRange.AppendRange(source, 100, 3000);
        byRange.AppendRange(source, 4990, 10);
        var byRow = new FlowBatch(16);
        byRow.Add(source[0]);
        for (var i = 100; i < 3100; i++) byRow.Add(source[i]);
        for (var i = 4990; i < 5000; i++) byRow.Add(source[i]);
        Assert.Equal(byRow.Count, byRange.Count);
        foreach (var field in Enum.GetValues<FlowField>())
        {
            Assert.True(byRow.ColumnBytes(field, byRow.Count).SequenceEqual(byRange.ColumnBytes(field, byRange.Count)), FlowFields.Name(field));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => byRange.AppendRange(source, 4990, 11));
    }
}
