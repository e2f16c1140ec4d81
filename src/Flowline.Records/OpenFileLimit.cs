using System.Runtime.InteropServices;

namespace Flowline.Records;

/// <summary>
/// The number of files this process may hold open (RLIMIT_NOFILE). A query holds every segment of its range
/// open from its start (so that a compaction meanwhile cannot change what it reads); the soft limit is raised
/// to the hard one at start, as Go's runtime does for every program, and a range beyond even that is refused
/// with what to do, rather than failing deep inside the runtime.
/// </summary>
public static class OpenFileLimit
{
    private const int RlimitNofile = 7;

    [StructLayout(LayoutKind.Sequential)]
    private struct Rlimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [DllImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static extern int GetRlimit(int resource, out Rlimit limit);

    [DllImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static extern int SetRlimit(int resource, in Rlimit limit);

    /// <summary>The soft limit now: files this process may have open at once (long.MaxValue when unknown or unlimited).</summary>
    public static long Current
    {
        get
        {
            if (!OperatingSystem.IsLinux()) return long.MaxValue;
            try
            {
                return GetRlimit(RlimitNofile, out var l) == 0 && l.Current < long.MaxValue ? (long)l.Current : long.MaxValue;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                return long.MaxValue;
            }
        }
    }

    /// <summary>Raises the soft limit to the hard one; returns the soft limit in force after.</summary>
    public static long RaiseToHard()
    {
        if (!OperatingSystem.IsLinux()) return long.MaxValue;
        try
        {
            if (GetRlimit(RlimitNofile, out var l) == 0 && l.Current < l.Maximum)
            {
                SetRlimit(RlimitNofile, new Rlimit { Current = l.Maximum, Maximum = l.Maximum });
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not a libc this runs with: the limit stays.
        }
        return Current;
    }
}
