namespace Flowline.Ingest;

/// <summary>
/// A bounded single-producer single-consumer queue of datagrams: their bytes live in one ring buffer,
/// their metadata in a fixed array. The receiving thread writes straight into the ring; when either is
/// full the datagram is dropped and counted, so the socket reader never waits for the decoder.
/// </summary>
public sealed class DatagramRing
{
    public const int MaxDatagram = 65_535;

    public readonly record struct Entry(long Offset, int Length, long TimeReceived, Flowline.Records.FlowAddress Exporter);

    private readonly byte[] _bytes;
    private readonly Entry[] _entries;
    private long _writeBytes;   // producer: absolute byte position of the next write
    private long _readBytes;    // consumer: absolute byte position everything before which is free
    private long _writeEntries; // producer
    private long _readEntries;  // consumer

    public DatagramRing(int bytes, int entries)
    {
        _bytes = GC.AllocateUninitializedArray<byte>(Math.Max(bytes, 2 * MaxDatagram));
        _entries = new Entry[Math.Max(16, entries)];
    }

    /// <summary>
    /// Writes once to every page of the ring, before the first datagram. A page's first write costs a
    /// page fault and the kernel zeroing it (about 5 µs each on a virtual machine, 80 ms for a 64 MiB ring);
    /// paid under load, that is the reader falling behind just as the first burst arrives. Only the
    /// producer may call it, before its first <see cref="Commit"/>.
    /// </summary>
    public void Prefault()
    {
        static void Touch(Span<byte> memory)
        {
            for (var i = 0; i < memory.Length; i += 4096) Volatile.Write(ref memory[i], 0);
        }
        Touch(_bytes);
        Touch(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_entries.AsSpan()));
    }

    public long Depth => Volatile.Read(ref _writeEntries) - Volatile.Read(ref _readEntries);
    public int Capacity => _entries.Length;

    /// <summary>How full the ring is, 0 to 1: the larger of its bytes and its entries in use.</summary>
    public double Fill => Math.Max(
        (double)(Volatile.Read(ref _writeBytes) - Volatile.Read(ref _readBytes)) / _bytes.Length,
        (double)Depth / _entries.Length);

    /// <summary>Where the producer may receive the next datagram (always <see cref="MaxDatagram"/> bytes), or empty when full.</summary>
    public Memory<byte> WriteSpace(out long position)
    {
        position = _writeBytes;
        var at = (int)(position % _bytes.Length);
        if (_bytes.Length - at < MaxDatagram)
        {
            // Not enough room before the end: continue at the start of the ring.
            position += _bytes.Length - at;
            at = 0;
        }
        if (position + MaxDatagram - Volatile.Read(ref _readBytes) > _bytes.Length ||
            _writeEntries - Volatile.Read(ref _readEntries) >= _entries.Length)
        {
            return Memory<byte>.Empty;
        }
        return _bytes.AsMemory(at, MaxDatagram);
    }

    /// <summary>Publishes a datagram received into the space <see cref="WriteSpace"/> gave.</summary>
    public void Commit(long position, int length, long timeReceived, Flowline.Records.FlowAddress exporter)
    {
        _entries[_writeEntries % _entries.Length] = new Entry(position, length, timeReceived, exporter);
        _writeBytes = position + length;
        Volatile.Write(ref _writeEntries, _writeEntries + 1);
    }

    public bool TryPeek(out Entry entry, out ReadOnlyMemory<byte> data)
    {
        if (_readEntries == Volatile.Read(ref _writeEntries))
        {
            entry = default;
            data = default;
            return false;
        }
        entry = _entries[_readEntries % _entries.Length];
        data = _bytes.AsMemory((int)(entry.Offset % _bytes.Length), entry.Length);
        return true;
    }

    /// <summary>Frees the datagram <see cref="TryPeek"/> returned.</summary>
    public void Release(in Entry entry)
    {
        Volatile.Write(ref _readBytes, entry.Offset + entry.Length);
        Volatile.Write(ref _readEntries, _readEntries + 1);
    }
}
