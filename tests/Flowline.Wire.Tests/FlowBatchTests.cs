using Flowline.Wire.Generation;
using Flowline.Records;

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
            Assert.True(byRow.ColumnValues(field, byRow.Count).SequenceEqual(byRange.ColumnValues(field, byRange.Count)), FlowFields.Name(field));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => byRange.AppendRange(source, 4990, 11));
    }

    /// <summary>A record whose tunnel, tenancy and routing columns all hold something.</summary>
    private static FlowRecord Full(FlowRecord r, uint n) => r with
    {
        NextHop = new FlowAddress(0, 0xFFFF_0A00_0001UL + n), SrcAs = 64512 + n, DstMask = 24, PostVlan = 7,
        Tunnel = TunnelKind.Vxlan, TunnelId = 5000 + n, UnderlaySrc = new FlowAddress(1, n), UnderlaySrcPort = 4789,
        Account = 3 + n, Vmi = 9, VmiDirection = VmiDirections.Egress, Action = FlowAction.Drop, SrcCountry = CountryCode.Pack("DE"),
    };

    [Fact]
    public void Rows_without_tunnel_tenancy_or_routing_values_read_back_as_zeros_after_the_columns_held_values()
    {
        // Add skips the columns of a group it knows to be zero; reusing a batch whose columns held values
        // must still give zeros there, through Add, AppendRange and AppendGathered alike.
        var g = new TrafficGenerator(3, hosts: 50);
        var plain = new FlowRecord[600];
        for (var i = 0; i < plain.Length; i++) plain[i] = g.Next();
        var batch = new FlowBatch(16);
        for (var i = 0; i < 300; i++) batch.Add(Full(plain[i], (uint)i));
        Assert.False(batch.IsZeroColumn(FlowField.Account));
        batch.Clear();
        for (var i = 0; i < 600; i++) batch.Add(i % 97 == 5 ? Full(plain[i], (uint)i) : plain[i]);
        for (var i = 0; i < 600; i++) Assert.Equal(i % 97 == 5 ? Full(plain[i], (uint)i) : plain[i], batch[i]);

        var fresh = new FlowBatch(16);
        for (var i = 0; i < 600; i++) fresh.Add(plain[i]);
        Assert.True(fresh.IsZeroColumn(FlowField.Account) && fresh.IsZeroColumn(FlowField.UnderlaySrc) && fresh.IsZeroColumn(FlowField.NextHop));
        Assert.False(fresh.IsZeroColumn(FlowField.SrcAddr));
        Assert.True(fresh.Account.AsSpan(0, fresh.Capacity).IndexOfAnyExcept(0u) < 0);

        var reused = new FlowBatch(16);
        for (var i = 0; i < 600; i++) reused.Add(Full(plain[i], (uint)i));
        reused.Clear();
        reused.AppendRange(fresh, 0, 600);
        var gathered = new FlowBatch(16);
        for (var i = 0; i < 10; i++) gathered.Add(Full(plain[i], (uint)i));
        gathered.Clear();
        gathered.AppendGathered([fresh, fresh], [0, 1, 0], [4, 9, 599]);
        for (var i = 0; i < 600; i++) Assert.Equal(plain[i], reused[i]);
        Assert.Equal([plain[4], plain[9], plain[599]], new[] { gathered[0], gathered[1], gathered[2] });

        // A column handed out for writing is no longer known to be zero.
        var written = new FlowBatch(16);
        written.ColumnBytes(FlowField.SgRule, 1)[0] = 1;
        Assert.False(written.IsZeroColumn(FlowField.SgRule));
        Assert.False(written.IsZeroColumn(FlowField.Account));
        Assert.True(written.IsZeroColumn(FlowField.TunnelId));
    }

    [Fact]
    public void Prefault_makes_the_always_filled_columns_resident_and_changes_no_row()
    {
        var g = new TrafficGenerator(5, hosts: 40);
        var batch = new FlowBatch(65_536);
        var rows = new FlowRecord[1000];
        for (var i = 0; i < rows.Length; i++) batch.Add(rows[i] = g.Next());
        batch.Prefault();
        Assert.Equal(rows.Length, batch.Count);
        for (var i = 0; i < rows.Length; i++) Assert.Equal(rows[i], batch[i]);
        // Columns of every element size, each wholly resident now (1 MiB for the addresses).
        foreach (var (name, pages) in new[]
        {
            ("SrcAddr", Testing.ResidentPages.Of(batch.SrcAddr)), ("Bytes", Testing.ResidentPages.Of(batch.Bytes)),
            ("InIf", Testing.ResidentPages.Of(batch.InIf)), ("SrcPort", Testing.ResidentPages.Of(batch.SrcPort)),
            ("IpProto", Testing.ResidentPages.Of(batch.IpProto)), ("TimeReceived", Testing.ResidentPages.Of(batch.TimeReceived)),
        })
        {
            Assert.True(pages.Pages > 0 && pages.Resident == pages.Pages, $"{name}: {pages.Resident} of {pages.Pages} pages resident");
        }
        // The groups known to be zero were not written: still known zero, still zero.
        Assert.True(batch.IsZeroColumn(FlowField.Account) && batch.IsZeroColumn(FlowField.UnderlaySrc) && batch.IsZeroColumn(FlowField.NextHop));
        Assert.True(batch.Account.AsSpan().IndexOfAnyExcept(0u) < 0);
        for (var i = 0; i < 500; i++) batch.Add(g.Next());
        Assert.Equal(1500, batch.Count);
        for (var i = 0; i < rows.Length; i++) Assert.Equal(rows[i], batch[i]);
    }
}
