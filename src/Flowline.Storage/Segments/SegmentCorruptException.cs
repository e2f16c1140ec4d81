namespace Flowline.Storage.Segments;

/// <summary>A segment failed a checksum or structure check: which file, which block (-1 for the footer), and why.</summary>
public sealed class SegmentCorruptException(string path, int block, string reason)
    : Exception(block >= 0 ? $"{path}: block {block}: {reason}" : $"{path}: {reason}")
{
    public string Path { get; } = path;
    public int Block { get; } = block;
    public string Reason { get; } = reason;
}
