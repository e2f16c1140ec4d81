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

    /// <summary>
    /// A quarantined segment's name: its day, partition and segment file, a number when a segment of that name was
    /// quarantined before, and while its blocks are being restored, the segment they go to.
    /// </summary>
    [GeneratedRegex(@"^((\d{8})_(\d{4})_(seg-[0-9-]+\.seg)(~\d+)?)(\.restoring-(seg-\d+\.seg))?$")]
    private static partial Regex QuarantinedSegment();

    /// <summary>1 when a segment went to quarantine (or the store opened) since the upkeep last salvaged: its next step does.</summary>
    private int _salvageDue = 1;

    /// <summary>One quarantined segment salvaged: where it was, and what became of it.</summary>
    private readonly record struct Salvaged(string Original, string Outcome);

    /// <summary>
    /// Restores the readable blocks of every segment in quarantine not salvaged yet, each as a new segment of its
    /// partition with the next sequence number (live beside whatever compaction made of the partition since; the
    /// next compaction merges it in and sums its rollups). The quarantined file stays, marked <see cref="SalvagedSuffix"/>.
    /// Exactly once across a crash: the file is first renamed for the segment its blocks go to, which appears whole
    /// or not at all; found so renamed, it is finished (the segment is there) or started again under a new number.
    /// </summary>
    private List<Salvaged> SalvageQuarantined()
    {
        var done = new List<Salvaged>();
        if (_options.ReadOnly || !Directory.Exists(QuarantineDirectory)) return done;
        foreach (var file in Directory.EnumerateFiles(QuarantineDirectory).Order(StringComparer.Ordinal).ToList())
        {
            var name = QuarantinedSegment().Match(Path.GetFileName(file));
            if (!name.Success) continue;
            var directory = Path.Combine(_root, name.Groups[2].Value, name.Groups[3].Value);
            var original = Path.Combine(directory, name.Groups[4].Value);
            // A segment of the same name quarantined and salvaged before keeps its file.
            var salvaged = Path.Combine(QuarantineDirectory, name.Groups[1].Value + SalvagedSuffix);
            for (var n = 1; File.Exists(salvaged); n++) salvaged = Path.Combine(QuarantineDirectory, $"{name.Groups[1].Value}{SalvagedSuffix}~{n}");
            try
            {
                if (name.Groups[7].Success && File.Exists(Path.Combine(directory, name.Groups[7].Value)))
                {
                    Rename(file, salvaged);
                    done.Add(new Salvaged(original, $"restored as {Path.GetRelativePath(_root, Path.Combine(directory, name.Groups[7].Value))} (finished after an interruption)"));
                    continue;
                }
                long sequence;
                lock (_writeLock) sequence = ++_sequence;
                var target = Path.Combine(directory, $"seg-{sequence:D12}{SegmentExtension}");
                var restoring = Path.Combine(QuarantineDirectory, $"{name.Groups[1].Value}.restoring-{Path.GetFileName(target)}");
                Rename(file, restoring);
                var outcome = Salvage(restoring, original, target);
                Rename(restoring, salvaged);
                done.Add(new Salvaged(original, outcome));
            }
            catch (IOException e)
            {
                // Left to the next verify or upkeep step.
                done.Add(new Salvaged(original, $"not salvaged: {e.Message}"));
            }
        }
        return done;
    }

    private void Rename(string from, string to)
    {
        File.Move(from, to);
        AtomicFile.SyncDirectory(QuarantineDirectory);
    }

    /// <summary>Writes the blocks of <paramref name="quarantined"/> that pass their checks as the segment <paramref name="target"/>.</summary>
    private string Salvage(string quarantined, string original, string target)
    {
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
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            // A subset of sorted rows is sorted; a compacted segment's rows go back in the codec compaction writes.
            using var writer = new SegmentFile.Writer(target, IsCompacted(original) && !reader.Run ? _options.Codec : _options.CommitCodec, sorted: reader.Sorted);
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
            return $"{kept} of its {total} blocks ({rows.ToString("N0", CultureInfo.InvariantCulture)} rows) restored as {Path.GetRelativePath(_root, target)}";
        }
    }
}
