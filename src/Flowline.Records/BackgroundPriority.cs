using System.Runtime.InteropServices;

namespace Flowline.Records;

/// <summary>
/// Lowers the calling thread's CPU and I/O priority (nice 10, best-effort I/O class at its lowest level),
/// so background work such as compaction takes what ingest leaves and never the other way round. Linux
/// only; elsewhere, or when refused, the thread keeps its priority.
/// </summary>
public static class BackgroundPriority
{
    private const int PrioProcess = 0;
    private const int IoprioWhoProcess = 1;
    private const int IoprioClassBestEffort = 2;

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();

    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int priority);

    [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static extern long Syscall(long number, long a, long b, long c);

    /// <returns>Whether the CPU priority was lowered.</returns>
    public static bool Apply()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            var tid = GetTid();
            var lowered = SetPriority(PrioProcess, tid, 10) == 0;
            long ioprioSet = RuntimeInformation.ProcessArchitecture switch
            {
                Architecture.X64 => 251,
                Architecture.Arm64 => 30,
                _ => -1,
            };
            if (ioprioSet > 0) Syscall(ioprioSet, IoprioWhoProcess, tid, (IoprioClassBestEffort << 13) | 7);
            return lowered;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }
}
