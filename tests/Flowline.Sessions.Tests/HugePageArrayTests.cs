using Flowline.Testing;

namespace Flowline.Sessions.Tests;

public sealed unsafe class HugePageArrayTests
{
    /// <summary>
    /// The session table's memory: nothing resident until written, zero where never written, resident as
    /// written, given back by Discard (and zero again), partly cleared by Clear, bounds checked.
    /// </summary>
    [Fact]
    public void Memory_is_resident_only_as_written_and_given_back_by_discard()
    {
        const int length = 8 << 20; // 64 MiB of longs
        using var a = new HugePageArray<long>(length);
        var start = (nint)a.Address(0);
        const long bytes = (long)length * sizeof(long);
        Assert.Equal(0, ResidentPages.Of(start, bytes).Resident);
        Assert.Equal(0, a[length - 1]);

        for (var i = 0; i < length / 2; i++) a[i] = i + 1;
        var (resident, pages) = ResidentPages.Of(start, bytes);
        Assert.InRange(resident, pages / 2, pages); // the first half at least (huge pages may bring a little more)
        Assert.Equal(length / 2, a[length / 2 - 1]);
        Assert.Equal(0, a[length / 2]);

        a.Clear(10, 5);
        Assert.Equal(10, a[9]);
        Assert.Equal(0, a[10]);
        Assert.Equal(0, a[14]);
        Assert.Equal(16, a[15]);

        // An uneven range: whole pages go back, the edges are cleared by hand.
        a.Discard(1001, length / 2 - 2001);
        Assert.Equal(1001, a[1000]);
        Assert.Equal(0, a[1001]);
        Assert.Equal(0, a[length / 4]);
        Assert.Equal(0, a[length / 2 - 1001]);
        Assert.Equal(length / 2 - 1000 + 1, a[length / 2 - 1000]);
        // Of the 32 MiB written, what remains resident is the kept edges, and with huge pages the 2 MiB around
        // them and the zero pages the reads above mapped: a few MiB.
        Assert.InRange(ResidentPages.Of(start, bytes).Resident, 0, pages / 8);

        Assert.Throws<IndexOutOfRangeException>(() => a[length]);
        Assert.Throws<IndexOutOfRangeException>(() => a[-1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Discard(length - 1, 2));
    }
}
