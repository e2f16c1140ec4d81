using System.Globalization;
using System.Text.RegularExpressions;
using Flowline.Query;
using Flowline.Records;
using Flowline.Storage.Segments;

namespace Flowline.Storage.Embedded;

/// <summary>
/// What verify and serve's upkeep do with a segment in quarantine: the blocks that still pass their checks go
/// back to the segment's partition as a new segment, so that a damaged block costs its own rows, not the
/// whole partition's. A quarantined file is named <c>DAY_HHMM_SEGMENT[~N]</c>, then while its blocks are
/// written <c>….restoring-seg-M.seg</c>, then <c>….restored-seg-M.seg</c> (its rows are in seg-M) or
/// <c>….unrestored</c> (none went back).
/// </summary>
public sealed partial class EmbeddedStore
{
    public const string RestoredInfix = ".restored-";
    public const string UnrestoredSuffix = ".unrestored";

    /// <summary>
    /// A quarantined segment's name: the name (1) of its day (2), partition (3) and segment file (4), with a number
    /// (5) when a segment of that name was quarantined before; and while its blocks are written, their segment (7).
    /// </summary>
    [GeneratedRegex(@"^((\d{8})_(\d{4})_(seg-[0-9-]+\.seg)(~\d+)?)(\.restoring-(seg-\d+\.seg))?$")]
    private static partial Regex QuarantinedSegment();

    /// <summary>Any quarantined segment file, whatever became of it: its day, partition and segment file.</summary>
    [GeneratedRegex(@"^(\d{8})_(\d{4})_(seg-[0-9-]+\.seg)")]
    private static partial Regex QuarantinedAny();

    /// <summary>1 when a segment went to quarantine (or the store opened) and the upkeep has not looked since.</summary>
    private int _salvageDue = 1;

    /// <summary>When a restore that failed (a full disk) is tried again; ticks, 0 for none.</summary>
    private long _salvageRetry;

    /// <summary>One quarantined segment looked at: where it was, what became of it, and whether that failed (to be tried again).</summary>
    private readonly record struct Salvaged(string Original, string Outcome, bool Failed = false);

    /// <summary>
    /// At open, before anything commits or compacts: a restore a crash cut short is finished when its segment is
    /// there (it appears whole or not at all) and otherwise put back to be done again under a new number.
    /// </summary>
    private void FinishInterruptedRestores()
    {
        foreach (var file in Directory.EnumerateFiles(QuarantineDirectory).ToList())
        {
            var name = QuarantinedSegment().Match(Path.GetFileName(file));
            if (!name.Success || !name.Groups[7].Success) continue;
            var written = File.Exists(Path.Combine(_root, name.Groups[2].Value, name.Groups[3].Value, name.Groups[7].Value));
            Rename(file, written ? $"{name.Groups[1].Value}{RestoredInfix}{name.Groups[7].Value}" : name.Groups[1].Value);
        }
    }

    /// <summary>
    /// The largest sequence number the segments in quarantine held, whatever became of them: never given to a new
    /// segment, which a later quarantine would otherwise take for another copy of one restored already.
    /// </summary>
    private long QuarantinedSequence() => !Directory.Exists(QuarantineDirectory) ? 0
        : Directory.EnumerateFiles(QuarantineDirectory).Select(f => QuarantinedAny().Match(Path.GetFileName(f)))
            .Where(m => m.Success).Select(m => SequenceOf(m.Groups[3].Value)).DefaultIfEmpty(0).Max();

    /// <summary>Whether serve's upkeep has quarantined segments to look at: one went there, or a failed restore is due again.</summary>
    private bool SalvageDue()
    {
        if (Interlocked.Exchange(ref _salvageDue, 0) == 1) return true;
        var retry = Interlocked.Read(ref _salvageRetry);
        return retry != 0 && DateTime.UtcNow.Ticks >= retry && Interlocked.CompareExchange(ref _salvageRetry, 0, retry) == retry;
    }

    /// <summary>
    /// Restores the readable blocks of at most <paramref name="max"/> quarantined segments not looked at yet, each
    /// as a new segment of its partition with the next sequence number (live beside whatever compaction made of
    /// the partition since; the next compaction merges it in and sums its rollups). Left alone, and said why: a
    /// segment whose partition retention removed, one whose rows live segments still hold (a compacted segment
    /// whose inputs were not deleted yet), and a second copy of one already restored. Under the compaction lock.
    /// </summary>
    private List<Salvaged> SalvageQuarantined(int max = int.MaxValue)
    {
        var done = new List<Salvaged>();
        if (_options.ReadOnly || !Directory.Exists(QuarantineDirectory)) return done;
        var files = Directory.EnumerateFiles(QuarantineDirectory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var restoredNow = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var name = QuarantinedSegment().Match(file!);
            if (!name.Success || name.Groups[7].Success) continue;
            if (done.Count == max)
            {
                Volatile.Write(ref _salvageDue, 1);
                break;
            }
            var directory = Path.Combine(_root, name.Groups[2].Value, name.Groups[3].Value);
            var original = Path.Combine(directory, name.Groups[4].Value);
            var (first, last) = RangeOf(original);
            var copy = $"{name.Groups[2].Value}_{name.Groups[3].Value}_{name.Groups[4].Value}";
            string? reason = null, restoring = null, target = null;
            if (!Directory.Exists(directory)) reason = "its partition is gone (retention removed it)";
            else if (Live(Directory.EnumerateFiles(directory, "seg-*" + SegmentExtension)).Select(p => RangeOf(p)).Any(r => r.First >= first && r.Last <= last))
                reason = "live segments still hold its rows (those it was merged from)";
            else if (restoredNow.Contains(copy) || files.Any(f => f!.StartsWith(copy, StringComparison.Ordinal) && f.Contains(RestoredInfix, StringComparison.Ordinal)))
                reason = "another copy of it was restored";
            try
            {
                if (reason is not null)
                {
                    Rename(Path.Combine(QuarantineDirectory, file!), name.Groups[1].Value + UnrestoredSuffix);
                    done.Add(new Salvaged(original, $"nothing restored: {reason}"));
                    continue;
                }
                long sequence;
                lock (_writeLock) sequence = ++_sequence;
                target = Path.Combine(directory, $"seg-{sequence:D12}{SegmentExtension}");
                restoring = Rename(Path.Combine(QuarantineDirectory, file!), $"{name.Groups[1].Value}.restoring-{Path.GetFileName(target)}");
                var (outcome, rows) = Salvage(restoring, original, target);
                Rename(restoring, name.Groups[1].Value + (rows > 0 ? RestoredInfix + Path.GetFileName(target) : UnrestoredSuffix));
                if (rows > 0) restoredNow.Add(copy);
                done.Add(new Salvaged(original, outcome));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Tried again in a minute. One whose segment was not written (a writer that fails leaves nothing) is put
                // back under its name for that; one whose segment was, or that cannot be renamed now, the next open finishes.
                if (restoring is not null && File.Exists(restoring) && !File.Exists(target))
                {
                    try
                    {
                        Rename(restoring, name.Groups[1].Value);
                    }
                    catch (Exception again) when (again is IOException or UnauthorizedAccessException)
                    {
                    }
                }
                Interlocked.Exchange(ref _salvageRetry, DateTime.UtcNow.AddMinutes(1).Ticks);
                done.Add(new Salvaged(original, $"not restored: {e.Message}; tried again later", Failed: true));
            }
        }
        return done;
    }

    /// <summary>Renames a file of the quarantine directory durably (a name taken already gets ~N); returns its path.</summary>
    private string Rename(string from, string to)
    {
        var path = FreeName(Path.Combine(QuarantineDirectory, to));
        File.Move(from, path);
        AtomicFile.SyncDirectory(QuarantineDirectory);
        return path;
    }

    /// <summary><paramref name="path"/>, or when a file has that name, the first of path~1, path~2 ... that none has.</summary>
    private static string FreeName(string path)
    {
        var free = path;
        for (var n = 1; File.Exists(free); n++) free = $"{path}~{n}";
        return free;
    }

    /// <summary>Writes the blocks of <paramref name="quarantined"/> that pass their checks as the segment <paramref name="target"/>.</summary>
    private (string Outcome, long Rows) Salvage(string quarantined, string original, string target)
    {
        SegmentFile.Reader reader;
        try
        {
            reader = new SegmentFile.Reader(quarantined, repairHeader: true);
        }
        catch (SegmentCorruptException e)
        {
            return ($"nothing restored: {e.Reason}", 0);
        }
        using (reader)
        {
            var batch = new FlowBatch(_options.BlockRows);
            int kept = 0, total = reader.Blocks.Length;
            long rows = 0;
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
            if (kept == 0) return ($"nothing restored: none of its {total} blocks is readable", 0);
            writer.Complete();
            return ($"{kept} of its {total} blocks ({rows.ToString("N0", CultureInfo.InvariantCulture)} rows) restored as {Path.GetRelativePath(_root, target)}"
                    + (reader.HeaderRepaired ? " (its damaged header rebuilt from the checksum its trailer keeps)" : ""), rows);
        }
    }

    /// <summary>Deletes quarantined segments of partitions that end at or before <paramref name="before"/> (retention).</summary>
    private void ExpireQuarantined(long before)
    {
        if (!Directory.Exists(QuarantineDirectory)) return;
        foreach (var file in Directory.EnumerateFiles(QuarantineDirectory).ToList())
        {
            var name = QuarantinedAny().Match(Path.GetFileName(file));
            if (!name.Success || !DateTime.TryParseExact(name.Groups[1].Value + name.Groups[2].Value, "yyyyMMddHHmm", CultureInfo.InvariantCulture,
                    DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t)) continue;
            if ((t - DateTime.UnixEpoch).Ticks / 10 + PartitionMicros <= before) File.Delete(file);
        }
    }
}
