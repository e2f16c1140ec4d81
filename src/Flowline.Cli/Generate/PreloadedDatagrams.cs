namespace Flowline.Cli.Generate;

/// <summary>
/// Datagrams encoded ahead of sending (`gen --preload`), packed into large chunks so millions of them
/// cost no per-datagram allocation, and read back in order.
/// </summary>
internal sealed class PreloadedDatagrams : IEnumerable<(ReadOnlyMemory<byte> Datagram, int Flows)>
{
    private const int ChunkSize = 64 << 20;
    private readonly List<byte[]> _chunks = [];
    private readonly List<(int Chunk, int Offset, int Length, int Flows)> _index = [];
    private int _used = ChunkSize;

    public void Add(ReadOnlySpan<byte> datagram, int flows)
    {
        if (_used + datagram.Length > ChunkSize)
        {
            _chunks.Add(GC.AllocateUninitializedArray<byte>(ChunkSize));
            _used = 0;
        }
        datagram.CopyTo(_chunks[^1].AsSpan(_used));
        _index.Add((_chunks.Count - 1, _used, datagram.Length, flows));
        _used += datagram.Length;
    }

    public IEnumerator<(ReadOnlyMemory<byte> Datagram, int Flows)> GetEnumerator()
    {
        foreach (var (chunk, offset, length, flows) in _index) yield return (_chunks[chunk].AsMemory(offset, length), flows);
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
