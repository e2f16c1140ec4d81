using System.Numerics;
using Flowline.Records;

namespace Flowline.Sessions;

/// <summary>The sessionizer's table: entries in one array, found through an open-addressed index of hashes.</summary>
public sealed partial class Sessionizer
{
    private readonly record struct Key(
        FlowAddress Exporter, uint ObsDomain, uint Account, uint Vmi, byte Protocol,
        FlowAddress LowIp, ushort LowPort, uint LowVn, FlowAddress HighIp, ushort HighPort, uint HighVn)
    {
        public uint Hash()
        {
            var h = Mix(Exporter.Hi ^ Exporter.Lo * 0x9E3779B97F4A7C15UL);
            h = Mix(h ^ LowIp.Hi ^ (LowIp.Lo * 0xC2B2AE3D27D4EB4FUL));
            h = Mix(h ^ HighIp.Hi ^ (HighIp.Lo * 0x165667B19E3779F9UL));
            h = Mix(h ^ ((ulong)LowPort << 48 | (ulong)HighPort << 32 | (ulong)Protocol << 24 | ObsDomain));
            h = Mix(h ^ ((ulong)Account << 32 | Vmi));
            h = Mix(h ^ ((ulong)LowVn << 32 | HighVn));
            return (uint)h;
        }

        private static ulong Mix(ulong z)
        {
            z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDUL;
            return z ^ (z >> 29);
        }
    }

    [Flags]
    private enum State : byte
    {
        Decided = 1, DecidedWithBoth = 2, ClientIsLow = 4, LowEver = 8, HighEver = 16, Flushed = 32,
        /// <summary>A record named the port (VMI) the session is seen from; <see cref="LocalIsLow"/> says which end it is.</summary>
        HasLocal = 64, LocalIsLow = 128,
    }

    /// <summary>Per direction: an ingress observation was seen (from then on egress ones are left out), egress ones are counted.</summary>
    [Flags]
    private enum Observed : byte { IngressFromLow = 1, IngressFromHigh = 2, EgressFromLow = 4, EgressFromHigh = 8 }

    /// <summary>One direction's counts since the last flush (<see cref="SessionDirection"/> without its id).</summary>
    private struct Counts
    {
        public ulong Bytes, Packets, SampledBytes, SampledPackets;
        public long Start, End;
        public uint Flows, SgRule;
        public ushort TcpFlags;
        public byte Action;

        /// <summary>Clears the counts after a flush; the first start, the last end, action and rule stay.</summary>
        public void ResetCounts()
        {
            Bytes = Packets = SampledBytes = SampledPackets = 0;
            Flows = 0;
            TcpFlags = 0;
        }

        public readonly SessionDirection ToDirection() => new()
        {
            Bytes = Bytes, Packets = Packets, SampledBytes = SampledBytes, SampledPackets = SampledPackets,
            Flows = Flows, TcpFlags = TcpFlags, Action = Action, SgRule = SgRule, Start = Start, End = End,
        };
    }

    private struct Entry
    {
        public Key Key;
        public uint Hash;
        /// <summary>Traffic from the low end to the high end, and back.</summary>
        public Counts FromLow, FromHigh;
        public State State;
        public ClientRule Rule;
        /// <summary>ICMP type sent by each end (255: none).</summary>
        public byte IcmpLow, IcmpHigh;
        /// <summary>Had a record since the eviction clock last passed (or the last flush).</summary>
        public bool Referenced;
        /// <summary>The entry holds a session (else it is on the free list).</summary>
        public bool Used;
        /// <summary>Which observations each direction counts (<see cref="SessionObservation.Auto"/>).</summary>
        public Observed Observed;
        /// <summary>TCP flags each end ever sent (the counts' flags start again at every flush).</summary>
        public ushort LowFlags, HighFlags;
        public uint App, Tier, Site, Deployment;
        public long Setup, Teardown, LastEnd;

        public readonly bool Dirty => FromLow.Flows > 0 || FromHigh.Flows > 0;
    }

    /// <summary>Early exports and evictions that may wait for a flush.</summary>
    private int EarlyLimit => Math.Max(1024, _max >> 3);

    /// <summary>The entry of <paramref name="key"/>, made when new; -1 when there is no room for it.</summary>
    private int FindOrAdd(in Key key, uint hash)
    {
        var mask = _slotMask;
        var slot = (int)hash & mask;
        while (true)
        {
            var at = _slots[slot];
            if (at == 0) break;
            if ((uint)(at >> 32) == hash)
            {
                ref readonly var e = ref At((int)(uint)at - 1);
                if (e.Used && e.Key == key) return (int)(uint)at - 1;
            }
            slot = (slot + 1) & mask;
        }
        if (_count + _stale >= ((_slotMask + 1) >> 1) + ((_slotMask + 1) >> 2))
        {
            // Removed sessions leave their slots behind (a slot leads to its entry only when the entry holds
            // the same key); when they crowd the index it is made again from the entries.
            Rehash();
            slot = FreeSlot(hash);
        }
        int index;
        if (_count == _max || _options.Shared?.TryTake() == false)
        {
            // Full (or the sessionizers together are): the new session takes the place of an old one.
            // The victim's slot stays behind (stale): the empty slot the search ended on is still the one.
            index = _count == 0 ? -1 : MakeRoom();
            if (index < 0) return -1;
        }
        else
        {
            if (_freeCount == 0 && _top == _capacity && Grow()) slot = FreeSlot(hash);
            index = _freeCount > 0 ? _free[--_freeCount] : _top++;
            _count++;
        }
        _added++;
        _newSessions += _inputSampling;
        // Cleared and filled in place: a whole new Entry made on the stack and copied in cost a 270-byte move a session.
        ref var entry = ref At(index);
        entry = default;
        entry.Key = key;
        entry.Hash = hash;
        entry.IcmpLow = 255;
        entry.IcmpHigh = 255;
        entry.Used = true;
        _slots[slot] = Slot(hash, index);
        return index;
    }

    private static ulong Slot(uint hash, int index) => (ulong)hash << 32 | (uint)(index + 1);

    private int FreeSlot(uint hash)
    {
        var mask = _slotMask;
        var slot = (int)hash & mask;
        while (_slots[slot] != 0) slot = (slot + 1) & mask;
        return slot;
    }

    /// <summary>
    /// Takes one session out of a full table, the least recently used that was handed out already, else one
    /// to export early, and returns its entry for the new session to take (its slot is free); -1 when the
    /// early exports are at their limit.
    /// </summary>
    private int MakeRoom()
    {
        // The clock, over a few entries: the first that was handed out already and had no record since the
        // hand last passed; else the best of those seen (handed out already, then no record since).
        var victim = -1;
        var best = int.MaxValue;
        for (var step = 0; step < 64 && _top > 0; step++)
        {
            _hand = _hand + 1 >= _top ? 0 : _hand + 1;
            ref var e = ref At(_hand);
            if (!e.Used) continue;
            var score = (e.Dirty ? 2 : 0) + (e.Referenced ? 1 : 0);
            e.Referenced = false;
            if (score < best)
            {
                (victim, best) = (_hand, score);
                if (score == 0) break;
            }
        }
        if (victim < 0) return -1;
        ref var v = ref At(victim);
        if (v.Dirty)
        {
            if (_early.Count >= EarlyLimit) return -1;
            Decide(ref v);
            var s = new Session();
            Build(ref v, s);
            _early.Add((s, false));
            ExportedEarly++;
            _dirty--;
        }
        else
        {
            if (_options.ListEvicted)
            {
                if (_early.Count >= EarlyLimit) return -1;
                var s = new Session();
                Build(ref v, s);
                if (s.Teardown == 0) s.Teardown = v.LastEnd;
                _early.Add((s, true));
            }
            Evicted++;
        }
        _stale++;
        return victim;
    }

    /// <summary>
    /// Removes entry <paramref name="index"/> and puts it on the free list. Its slot stays until the index
    /// is made again: a lookup finds an entry only when the entry holds the key it looks for, so a stale
    /// slot misleads nobody, and removing costs no search of the index.
    /// </summary>
    private void RemoveAt(int index)
    {
        At(index) = default;
        if (_freeCount == _free.Length) Array.Resize(ref _free, _free.Length * 2);
        _free[_freeCount++] = index;
        _count--;
        _stale++;
    }

    /// <summary>Slots left behind by removed sessions (or sessions replaced in place) since the index was made.</summary>
    private int _stale;

    private ref Entry At(int index) => ref _entries[index];

    /// <summary>The slots for a table with room for <paramref name="capacity"/> entries: a power of two, four times as many.</summary>
    private static int SlotsFor(int capacity) => (int)BitOperations.RoundUpToPowerOf2((uint)(((long)capacity + PageMask) & ~PageMask) * 4);

    /// <summary>Adds a page of entries (its memory becomes resident as it is used); true when the index was made again for the room.</summary>
    private bool Grow()
    {
        _capacity += PageSize;
        if ((long)_capacity * 4 <= _slotMask + 1L) return false;
        Rehash();
        return true;
    }

    /// <summary>The most sessions the table held at a flush within the last <see cref="PeakWindow"/> (µs), and when that was.</summary>
    private long _peak, _peakAt = long.MinValue;
    private const long PeakWindow = 60_000_000;

    /// <summary>Notes the sessions held as a flush begins, when the interval brought new ones (sessions merely waiting for their idle timeout are no demand).</summary>
    private void NotePeak(long now)
    {
        var demand = _addedBefore > 0 ? _count : 0;
        if (demand >= _peak || now - _peakAt > PeakWindow) (_peak, _peakAt) = (demand, now);
    }

    /// <summary>
    /// After a flush that left most entries in use so far free: moves the sessions held to the front, so that
    /// flushes and evictions visit only those, and gives the memory beyond back — unless the table held that
    /// many sessions within the last minute, or the last interval's new sessions would fill it again: a steady
    /// flood of short sessions empties the table at every flush and fills it in the next interval, and giving
    /// its pages back each time only to touch them again costs more than it saves.
    /// </summary>
    private void Shrink()
    {
        var need = Math.Max(_peak, _count + _addedBefore + (_addedBefore >> 2));
        var keep = need * 4 > _capacity ? _capacity >> PageBits
            : Math.Max(1, (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, _count) * 2) >> PageBits);
        if (keep << PageBits == _capacity && (_top <= PageSize || (long)_count * 4 > _top)) return;
        var n = 0;
        for (var i = 0; i < _top; i++)
        {
            ref var e = ref At(i);
            if (!e.Used) continue;
            if (i != n) (At(n), e) = (e, default);
            n++;
        }
        var held = Math.Min(_capacity, _max);
        if (keep << PageBits < held) _entries.Discard(keep << PageBits, held - (keep << PageBits));
        (_capacity, _top, _freeCount, _hand) = (keep << PageBits, n, 0, 0);
        if (_free.Length > 1024) _free = new int[16];
        Rehash();
    }

    private void Rehash()
    {
        var size = SlotsFor(_capacity);
        var before = _slotMask + 1;
        // Those kept start empty; slots beyond the new size are given back.
        _slots.Clear(0, size);
        if (before > size) _slots.Discard(size, before - size);
        _slotMask = size - 1;
        _stale = 0;
        for (var i = 0; i < _top; i++)
        {
            ref readonly var e = ref At(i);
            if (e.Used) _slots[FreeSlot(e.Hash)] = Slot(e.Hash, i);
        }
    }

    private void Decide(ref Entry e)
    {
        // A decision stands unless it was made from one direction and the other has turned up since.
        var both = (e.State & (State.LowEver | State.HighEver)) == (State.LowEver | State.HighEver);
        if ((e.State & State.Decided) != 0 && ((e.State & State.DecidedWithBoth) != 0 || !both)) return;
        e.State = both ? e.State | State.DecidedWithBoth : e.State & ~State.DecidedWithBoth;
        bool clientIsLow;
        if (e.Key.Protocol is 1 or 58)
        {
            // The requester is the client; a reply alone names its destination as the client.
            var v6 = e.Key.Protocol == 58;
            byte request = v6 ? (byte)128 : (byte)8, reply = v6 ? (byte)129 : (byte)0;
            clientIsLow = e.IcmpLow == request ? true
                : e.IcmpHigh == request ? false
                : e.IcmpLow == reply ? false
                : e.IcmpHigh == reply ? true
                : e.IcmpLow != 255; // any other message: its sender
            e.Rule = ClientRule.Icmp;
            e.State |= State.DecidedWithBoth; // the message types decide
        }
        else if (e.Key.Protocol == 6 && OpeningOnly(e.LowFlags) != OpeningOnly(e.HighFlags))
        {
            (clientIsLow, e.Rule) = (OpeningOnly(e.LowFlags), ClientRule.Syn);
        }
        else if (both && e.FromLow.Start != e.FromHigh.Start && e.FromLow.Start != 0 && e.FromHigh.Start != 0)
        {
            (clientIsLow, e.Rule) = (e.FromLow.Start < e.FromHigh.Start, ClientRule.FirstPacket);
        }
        else
        {
            (clientIsLow, e.Rule) = (!IsServerSide(e.Key.LowPort, e.Key.HighPort), ClientRule.ServicePort);
        }
        e.State = (e.State & ~State.ClientIsLow) | State.Decided | (clientIsLow ? State.ClientIsLow : 0);
    }

    private static bool OpeningOnly(ushort flags) => (flags & 0x02) != 0 && (flags & 0x10) == 0;

    /// <summary>True when <paramref name="low"/> is the server's port against <paramref name="high"/>.</summary>
    private bool IsServerSide(ushort low, ushort high)
    {
        var lowService = _options.ServicePorts.Contains(low);
        var highService = _options.ServicePorts.Contains(high);
        if (lowService != highService) return lowService;
        if ((low < 1024) != (high < 1024)) return low < 1024;
        if (low != high) return low < high;
        return false; // equal ports: the lower address is the client
    }

    /// <summary>Fills <paramref name="s"/> with the entry's session, oriented by its decision.</summary>
    private static void Build(ref Entry e, Session s)
    {
        ref readonly var key = ref e.Key;
        var clientIsLow = (e.State & State.ClientIsLow) != 0;
        s.Exporter = key.Exporter; s.ObsDomain = key.ObsDomain; s.Account = key.Account; s.Vmi = key.Vmi; s.Protocol = key.Protocol;
        s.App = e.App; s.Tier = e.Tier; s.Site = e.Site; s.Deployment = e.Deployment; s.Rule = e.Rule;
        s.Setup = e.Setup; s.Teardown = e.Teardown; s.First = (e.State & State.Flushed) == 0;
        if (clientIsLow)
        {
            (s.ClientIp, s.ClientPort, s.ClientVn, s.ServerIp, s.ServerPort, s.ServerVn) = (key.LowIp, key.LowPort, key.LowVn, key.HighIp, key.HighPort, key.HighVn);
            (s.Forward, s.Reverse) = (e.FromLow.ToDirection(), e.FromHigh.ToDirection());
        }
        else
        {
            (s.ClientIp, s.ClientPort, s.ClientVn, s.ServerIp, s.ServerPort, s.ServerVn) = (key.HighIp, key.HighPort, key.HighVn, key.LowIp, key.LowPort, key.LowVn);
            (s.Forward, s.Reverse) = (e.FromHigh.ToDirection(), e.FromLow.ToDirection());
        }
        if (key.Protocol is 1 or 58 && key.HighPort != 0)
        {
            // A lone ICMP message keeps its type and code as the server port, with no client port.
            (s.ClientPort, s.ServerPort) = (0, key.HighPort);
        }
        // Without a port of the inventory the session is recorded as its client sees it.
        s.LocalIsClient = (e.State & State.HasLocal) == 0 || ((e.State & State.LocalIsLow) != 0) == clientIsLow;
        s.ForgetFlowIds();
    }
}
