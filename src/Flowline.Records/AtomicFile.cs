using System.Runtime.InteropServices;
using System.Text;
using Flowline.Records;

namespace Flowline.Records;

/// <summary>
/// The one way Flowline replaces a state file: written whole beside it, flushed to disk, renamed over it, and
/// the directory flushed so that the rename itself survives a crash. A reader sees the old file or the new,
/// never a part of either.
/// </summary>
public static class AtomicFile
{
    /// <summary>Replaces (or, without <paramref name="overwrite"/>, creates) <paramref name="path"/> with <paramref name="bytes"/>.</summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes, UnixFileMode? mode = null, bool overwrite = true)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy), mode, overwrite);
    }

    /// <summary>As <see cref="Write(string, ReadOnlySpan{byte}, UnixFileMode?, bool)"/>, the content streamed by <paramref name="write"/>.</summary>
    public static void Write(string path, Action<Stream> write, UnixFileMode? mode = null, bool overwrite = true)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        var temporary = $"{full}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.tmp";
        try
        {
            using (var f = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                if (mode is { } m && !OperatingSystem.IsWindows()) File.SetUnixFileMode(temporary, m);
                write(f);
                f.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
        SyncDirectory(directory);
    }

    public static void WriteText(string path, string text, UnixFileMode? mode = null) => Write(path, Encoding.UTF8.GetBytes(text), mode);

    /// <summary>
    /// Deletes the temporary files that writers which are no longer running left in <paramref name="directory"/>
    /// (and, with <paramref name="subdirectories"/>, in the directories inside it other than
    /// <paramref name="skip"/>), as a crash between the write and the rename leaves them: never what a running
    /// process is writing, nor a file written in the last ten minutes (a writer this machine's process list does
    /// not show, in another container or on another host sharing the directory). Returns how many went.
    /// </summary>
    public static int RemoveAbandoned(string directory, bool subdirectories = false, Func<string, bool>? skip = null)
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists(directory)) return 0;
        var removed = 0;
        var directories = new List<string> { directory };
        if (subdirectories) directories.AddRange(Directory.EnumerateDirectories(directory).Where(d => skip is null || !skip(d)));
        foreach (var d in directories)
        {
            foreach (var file in Directory.EnumerateFiles(d, "*.tmp"))
            {
                // NAME.PID.THREAD.tmp, as Write names them.
                var parts = Path.GetFileName(file).Split('.');
                if (parts.Length < 4 || !int.TryParse(parts[^3], out var pid) || !int.TryParse(parts[^2], out _)) continue;
                if (pid == Environment.ProcessId || Directory.Exists($"/proc/{pid}") || File.GetLastWriteTimeUtc(file) > DateTime.UtcNow.AddMinutes(-10)) continue;
                TryDelete(file);
                if (!File.Exists(file)) removed++;
            }
        }
        return removed;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private const int ReadOnly = 0;
    private const int DirectoryFlag = 0x10000; // O_DIRECTORY on Linux

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);

    /// <summary>Makes renames and creations in <paramref name="directory"/> durable: fsync on the directory (POSIX).</summary>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux()) return;
        var fd = Open(directory, ReadOnly | DirectoryFlag);
        if (fd < 0) throw new IOException($"cannot open directory {directory} to sync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            Close(fd);
        }
    }
}
