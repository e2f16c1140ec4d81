using Flowline.Records;

namespace Flowline.Enrichment;

/// <summary>
/// An immutable open-addressing table from addresses to non-negative or negative ints, at most half full:
/// a lookup reads one slot in the common case. IPv4 addresses sit in a table of their own, 8 bytes a slot,
/// placed by their low bits folded with the high ones, so that neighbouring addresses (as address
/// management hands them out within a subnet) land in nearby slots and a busy subnet's ports share a
/// few cache lines; IPv6 addresses are placed by a multiplicative hash.
/// </summary>
internal sealed class AddressTable
{
    public const int Missing = int.MinValue;
    public static readonly AddressTable Empty = Build(new Dictionary<FlowAddress, int>());

    /// <summary>IPv4: address in the high half, value in the low half; <see cref="Free4"/> when free.</summary>
    private readonly ulong[] _v4;
    private readonly int _bits4;
    private readonly Entry[] _v6;
    private readonly int _shift6;
    private const ulong Free4 = (ulong)uint.MaxValue << 32 | unchecked((uint)Missing);

    private struct Entry
    {
        public ulong Hi, Lo;
        public int Value;
    }

    private AddressTable(int bits4, int bits6)
    {
        _v4 = new ulong[1 << bits4];
        Array.Fill(_v4, Free4);
        _bits4 = bits4;
        _v6 = new Entry[1 << bits6];
        for (var k = 0; k < _v6.Length; k++) _v6[k].Value = Missing;
        _shift6 = 64 - bits6;
    }

    private static int BitsFor(int count)
    {
        var bits = 4;
        while (1 << bits < count * 2) bits++;
        return bits;
    }

    public static AddressTable Build(IReadOnlyDictionary<FlowAddress, int> entries)
    {
        var v4 = entries.Count(e => e.Key.IsV4);
        var t = new AddressTable(BitsFor(v4), BitsFor(entries.Count - v4));
        foreach (var (a, v) in entries)
        {
            if (a.IsV4)
            {
                // 255.255.255.255 with a value cannot be told from a free slot, and is no port's address.
                if (a.V4 == uint.MaxValue) continue;
                var k = t.Slot4(a.V4);
                while (t._v4[k] != Free4) k = (k + 1) & (t._v4.Length - 1);
                t._v4[k] = (ulong)a.V4 << 32 | (uint)v;
            }
            else
            {
                var k = t.Slot6(a);
                while (t._v6[k].Value != Missing) k = (k + 1) & (t._v6.Length - 1);
                t._v6[k] = new Entry { Hi = a.Hi, Lo = a.Lo, Value = v };
            }
        }
        return t;
    }

    /// <summary>
    /// Even slots only: a run of consecutive addresses fills every other slot, so that looking up an
    /// address that is not there (a public one, say) stops at the next, free, odd slot instead of walking
    /// the whole run.
    /// </summary>
    private int Slot4(uint a) => (int)(((a ^ a >> (_bits4 - 1)) << 1) & (uint)(_v4.Length - 1));

    private int Slot6(in FlowAddress a) => (int)(((a.Hi ^ a.Lo) * 0x9E37_79B9_7F4A_7C15UL) >> _shift6);

    /// <summary>How many IPv4 slots a lookup reads (for tests of the layout).</summary>
    internal int Probes(in FlowAddress a)
    {
        var n = 1;
        for (var k = Slot4(a.V4); _v4[k] != Free4 && (uint)(_v4[k] >> 32) != a.V4; k = (k + 1) & (_v4.Length - 1)) n++;
        return n;
    }

    /// <summary>The value stored for the address, or <see cref="Missing"/>.</summary>
    public int Find(in FlowAddress a)
    {
        if (a.IsV4)
        {
            var table = _v4;
            var mask = table.Length - 1;
            var key = a.V4;
            for (var k = Slot4(key); ; k = (k + 1) & mask)
            {
                var e = table[k];
                if (e == Free4) return Missing;
                if ((uint)(e >> 32) == key) return (int)(uint)e;
            }
        }
        var slots = _v6;
        var mask6 = slots.Length - 1;
        for (var k = Slot6(a); ; k = (k + 1) & mask6)
        {
            ref readonly var e = ref slots[k];
            if (e.Value == Missing || e.Hi == a.Hi && e.Lo == a.Lo) return e.Value;
        }
    }
}
