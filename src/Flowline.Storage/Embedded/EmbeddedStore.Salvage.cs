using System.Globalization;
using System.Text.RegularExpressions;
using Flowline.Query;
using Flowline.Records;
using Flowline.Storage.Segments;

namespace Flowline.Storage.Embedded;

/// <summary>
/// What verify does with a segment in quarantine: the blocks that still pass their checks go back to the
/// segment's partition as a new segment, so that a damaged block costs its own rows, not the whole partition's.
/// </summary>
public sealed partial class EmbeddedStore
{
    /// <summary>Appended to a quarantined segment once its readable blocks were restored (none, when none was).</summary>
    public const string SalvagedSuffix = ".salvaged";

    /// <summary>A quarantined segment's name: its day, partition and segment file, and a number when a segment of that name was quarantined before.</summary>
    [GeneratedRegex(@"^(\d{8})_(\d{4})_(seg-[0-9-]+\.seg)(~\d+)?$")]
    private static partial Regex QuarantinedSegment();

    /// <summary>One quarantined segment salvaged: where it was, and what became of it.</summary>
    private readonly record struct Salvaged(string Original, string Outcome);

    /// <summary>
    /// Restores the readable blocks of every segment in quarantine not salvaged yet, each as a new segment of its
    /// partition with the next sequence number (live beside whatever compaction made of the partition since; the
    /// next compaction merges it in and sums its rollups). The quarantined file stays, marked <see cref="SalvagedSuffix"/>.
    /// </summary>
    private List<Salvaged> SalvageQuarantined()
    {
        var done = new List<Salvaged>();
        if (_options.ReadOnly || !Directory.Exists(QuarantineDirectory)) return done;
        foreach (var file in Directory.EnumerateFiles(QuarantineDirectory).Order(StringComparer.Ordinal).ToList())
        {
            var name = QuarantinedSegment().Match(Path.GetFileName(file));
            if (!name.Success) continue;
            var original = Path.Combine(_root, name.Groups[1].Value, name.Groups[2].Value, name.Groups[3].Value);
            string outcome;
            try
            {
                outcome = Salvage(file, original);
            }
            catch (IOException e)
            {
                // Left unmarked: the next verify tries again.
                done.Add(new Salvaged(original, $"not salvaged: {e.Message}"));
                continue;
            }
            File.Move(file, file + SalvagedSuffix);
            AtomicFile.SyncDirectory(QuarantineDirectory);
            done.Add(new Salvaged(original, outcome));
        }
        return done;
    }

    /// <summary>Writes the blocks of <paramref name="quarantined"/> that pass their checks as a new segment beside where it was, <paramref name="original"/>.</summary>
    private string Salvage(string quarantined, string original)
    {
        var directory = Path.GetDirectoryName(original)!;
        SegmentFile.Reader reader;
        try
        {
            reader = new SegmentFile.Reader(quarantined);
        }
        catch (SegmentCorruptException e)
        {
            return $"nothing restored: {e.Reason}";
        }
        using (reader)
        {
            var batch = new FlowBatch(_options.BlockRows);
            int kept = 0, total = reader.Blocks.Length;
            long rows = 0;
            lock (_writeLock)
            {
                Directory.CreateDirectory(directory);
                var path = Path.Combine(directory, $"seg-{_sequence + 1:D12}{SegmentExtension}");
                // A subset of sorted rows is sorted; a compacted segment's rows go back in the codec compaction writes.
                using var writer = new SegmentFile.Writer(path, IsCompacted(original) && !reader.Run ? _options.Codec : _options.CommitCodec, sorted: reader.Sorted);
                for (var i = 0; i < total; i++)
                {
                    batch.Clear();
                    try
                    {
                        reader.ReadBlock(i, batch);
                    }
                    catch (SegmentCorruptException)
                    {
                        continue;
                    }
                    writer.AppendBlock(batch, 0, batch.Count);
                    kept++;
                    rows += batch.Count;
                }
                if (kept == 0) return $"nothing restored: none of its {total} blocks is readable";
                writer.Complete();
                _sequence++;
                return $"{kept} of its {total} blocks ({rows.ToString("N0", CultureInfo.InvariantCulture)} rows) restored as {Path.GetRelativePath(_root, path)}";
            }
        }
    }
}
