using System.Text.Json.Nodes;
using Flowline.Records;

namespace Flowline.Realtime.Tests;

public sealed class ThresholdStateTests
{
    [Fact]
    public void Made_up_sources_crossing_a_threshold_are_remembered_up_to_the_limit_and_counted_beyond()
    {
        var raised = 0;
        var sink = new ThresholdSink(new Journal(16, "eventID"), _ => raised++);
        var state = new ThresholdState("low", new ThresholdDefinition { Metric = "ifinoctets", Value = 1, Timeout = 86_400 });
        const int sources = ThresholdState.MaxOutstanding + 500;
        for (uint i = 0; i < sources; i++) state.Crossed(new DataSource(FlowAddress.FromV4(0x0A000000 + i), 1), 10, 1_000_000, sink);
        Assert.Equal(ThresholdState.MaxOutstanding, raised);
        Assert.Equal(500, state.Untracked);
        // A source already outstanding stays quiet, as before; once re-armed, the table has room again.
        state.Crossed(new DataSource(FlowAddress.FromV4(0x0A000000), 1), 10, 2_000_000, sink);
        Assert.Equal(ThresholdState.MaxOutstanding, raised);
        state.Rearm(2_000_000 + 86_401_000_000L);
        state.Crossed(new DataSource(FlowAddress.FromV4(0x0B000000), 1), 10, 90_000_000_000, sink);
        Assert.Equal(ThresholdState.MaxOutstanding + 1, raised);
    }
}
