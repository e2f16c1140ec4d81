using System.Globalization;
using Flowline.Records;

namespace Flowline.Storage.Embedded;

/// <summary>The width of a store's time partitions: chosen at creation, recorded in its directory.</summary>
public sealed partial class EmbeddedStore
{
    private readonly long _partitionMicros;

    private long PartitionMicros => _partitionMicros;

    /// <summary>The width of this store's partitions.</summary>
    public TimeSpan PartitionWidth => TimeSpan.FromMicroseconds(_partitionMicros);

    private const string PartitionWidthFile = "partition-width";

    /// <summary>Whether <paramref name="root"/> holds a store: its partition width recorded, or day directories of one that predates the record.</summary>
    public static bool IsStore(string root) =>
        File.Exists(Path.Combine(root, PartitionWidthFile))
        || Directory.Exists(root) && Directory.EnumerateDirectories(root).Any(d => Path.GetFileName(d) is { Length: 8 } n && !n.AsSpan().ContainsAnyExceptInRange('0', '9'));

    /// <summary>
    /// The partition width this store was created with (seconds, in <see cref="PartitionWidthFile"/>); a store
    /// with partitions but no record predates the setting and has 5-minute partitions.
    /// </summary>
    private static TimeSpan? RecordedWidth(string root)
    {
        var file = Path.Combine(root, PartitionWidthFile);
        if (File.Exists(file))
        {
            var text = File.ReadAllText(file).Trim();
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
            {
                throw new InvalidDataException($"{file}: '{text}' is not a partition width in seconds");
            }
            if (seconds > 86_400 || 86_400 % seconds != 0 || seconds % 60 != 0)
            {
                throw new InvalidDataException($"{file}: {seconds} s is not a partition width this store could have (whole minutes dividing a day)");
            }
            return TimeSpan.FromSeconds(seconds);
        }
        return IsStore(root) ? EmbeddedStoreOptions.DefaultPartitionWidth : null;
    }

    private static long ChooseWidth(string root, EmbeddedStoreOptions options)
    {
        var recorded = RecordedWidth(root);
        var width = recorded ?? options.PartitionWidth ?? EmbeddedStoreOptions.DefaultPartitionWidth;
        if (recorded is { } r && options.PartitionWidth is { } asked && asked != r && !options.ReadOnly)
        {
            throw new InvalidOperationException($"the store in {root} keeps partitions of {Durations.Format(r)}; it cannot be opened with {Durations.Format(asked)} ones (a new data directory can)");
        }
        if (width <= TimeSpan.Zero || TimeSpan.FromDays(1).Ticks % width.Ticks != 0 || width.Ticks % TimeSpan.TicksPerMinute != 0)
        {
            throw new ArgumentException($"a partition width must be whole minutes dividing a day, not {width}");
        }
        return (long)width.TotalMicroseconds;
    }
}
