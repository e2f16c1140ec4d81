namespace Flowline.Storage.Segments;

/// <summary>The general compression of a segment's columns.</summary>
public enum SegmentCodec
{
    /// <summary>Smallest on disk.</summary>
    Brotli,
    /// <summary>Faster to decode, about twice the size.</summary>
    Lz4,
}

/// <summary>Where a block is, how many rows it holds, and its zone map.</summary>
public readonly record struct BlockInfo(long Offset, int Rows, int Length, ZoneMap Zone);
