namespace Flowline.Storage.Segments;

/// <summary>The general compression of a segment's columns.</summary>
public enum SegmentCodec
{
    /// <summary>Small on disk, slow to write and to read.</summary>
    Brotli,
    /// <summary>Fastest to write and to decode, about twice the size.</summary>
    Lz4,
    /// <summary>Zstandard: the size of Brotli, decoded several times faster (docs/PERFORMANCE.md, codecs).</summary>
    Zstd,
}

/// <summary>Where a block is, how many rows it holds, and its zone map.</summary>
public readonly record struct BlockInfo(long Offset, int Rows, int Length, ZoneMap Zone);
