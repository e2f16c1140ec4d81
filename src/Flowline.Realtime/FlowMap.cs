using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Flowline.Realtime;

/// <summary>
/// The flows of one data source of a definition: fixed-width byte keys to <see cref="FlowEntry"/>, in an
/// open-addressing table with linear probing. Keys sit inline in one array, next to their hashes and
/// entries, so a lookup costs a probe or two in flat arrays instead of a chain through a dictionary's
/// buckets, entries and a key object each. Removal shifts the following entries back (no tombstones).
/// Not thread-safe: the definition's lock guards it.
/// </summary>
internal sealed class FlowMap
{
    private readonly int _width;
    /// <summary>Per slot: the key's hash, never 0; 0 marks an empty slot.</summary>
    private int[] _hashes;
    private byte[] _keys;
    private FlowEntry[] _entries;
    private int _mask;

    /// <summary>Most data sources have a few flows: a map starts at four slots (about 300 bytes) and grows.</summary>
    public FlowMap(int width, int capacity = 4)
    {
        _width = width;
        var slots = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(4, capacity));
        _hashes = new int[slots];
        _keys = new byte[slots * width];
        _entries = new FlowEntry[slots];
        _mask = slots - 1;
    }

    public int Count { get; private set; }

    /// <summary>The slots in use are those below this bound whose <see cref="Occupied"/> is true.</summary>
    public int Slots => _hashes.Length;

    public bool Occupied(int slot) => _hashes[slot] != 0;

    public ReadOnlySpan<byte> KeyAt(int slot) => _keys.AsSpan(slot * _width, _width);

    public ref FlowEntry EntryAt(int slot) => ref _entries[slot];

    /// <summary>The entry of <paramref name="key"/>, or a null reference.</summary>
    public ref FlowEntry Find(ReadOnlySpan<byte> key)
    {
        var slot = SlotOf(key, Hash(key));
        return ref slot < 0 ? ref Unsafe.NullRef<FlowEntry>() : ref _entries[slot];
    }

    /// <summary>The entry of <paramref name="key"/>, added (zeroed) when absent.</summary>
    public ref FlowEntry Add(ReadOnlySpan<byte> key)
    {
        if ((Count + 1) * 4 > _hashes.Length * 3) Resize(_hashes.Length * 2);
        var hash = Hash(key);
        var slot = hash & _mask;
        while (_hashes[slot] != 0)
        {
            if (_hashes[slot] == hash && KeyAt(slot).SequenceEqual(key)) return ref _entries[slot];
            slot = (slot + 1) & _mask;
        }
        _hashes[slot] = hash;
        key.CopyTo(_keys.AsSpan(slot * _width, _width));
        _entries[slot] = default;
        Count++;
        return ref _entries[slot];
    }

    /// <summary>Removes <paramref name="key"/>; false when absent.</summary>
    public bool Remove(ReadOnlySpan<byte> key)
    {
        var hole = SlotOf(key, Hash(key));
        if (hole < 0) return false;
        // Backward shift: each later entry of the run that may live in the hole moves into it.
        var j = hole;
        while (true)
        {
            j = (j + 1) & _mask;
            var h = _hashes[j];
            if (h == 0) break;
            var home = h & _mask;
            var stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
            if (stays) continue;
            _hashes[hole] = h;
            _keys.AsSpan(j * _width, _width).CopyTo(_keys.AsSpan(hole * _width, _width));
            _entries[hole] = _entries[j];
            hole = j;
        }
        _hashes[hole] = 0;
        Count--;
        return true;
    }

    private int SlotOf(ReadOnlySpan<byte> key, int hash)
    {
        var slot = hash & _mask;
        while (true)
        {
            var h = _hashes[slot];
            if (h == 0) return -1;
            if (h == hash && KeyAt(slot).SequenceEqual(key)) return slot;
            slot = (slot + 1) & _mask;
        }
    }

    /// <summary>Gives memory back after a burst of flows has gone: down to twice what is held, when that is an eighth or less.</summary>
    public void Shrink()
    {
        var slots = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, Count * 2));
        if (slots * 4 <= _hashes.Length) Resize(slots);
    }

    private void Resize(int slots)
    {
        var (hashes, keys, entries) = (_hashes, _keys, _entries);
        _hashes = new int[slots];
        _keys = new byte[slots * _width];
        _entries = new FlowEntry[slots];
        _mask = slots - 1;
        for (var s = 0; s < hashes.Length; s++)
        {
            var h = hashes[s];
            if (h == 0) continue;
            var slot = h & _mask;
            while (_hashes[slot] != 0) slot = (slot + 1) & _mask;
            _hashes[slot] = h;
            keys.AsSpan(s * _width, _width).CopyTo(_keys.AsSpan(slot * _width, _width));
            _entries[slot] = entries[s];
        }
    }

    /// <summary>A 64-bit multiply-rotate mix over 8-byte words, folded to a non-zero int.</summary>
    private static int Hash(ReadOnlySpan<byte> key)
    {
        const ulong k = 0x9E37_79B9_7F4A_7C15;
        var h = (ulong)key.Length * k;
        var i = 0;
        for (; i + 8 <= key.Length; i += 8) h = BitOperations.RotateLeft((h ^ BinaryPrimitives.ReadUInt64LittleEndian(key[i..])) * k, 29);
        ulong tail = 0;
        for (var shift = 0; i < key.Length; i++, shift += 8) tail |= (ulong)key[i] << shift;
        h = (h ^ tail) * k;
        h ^= h >> 32;
        var folded = (int)h;
        return folded == 0 ? 1 : folded;
    }
}
