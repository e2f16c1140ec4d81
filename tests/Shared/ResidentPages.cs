using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Flowline.Testing;

/// <summary>Which pages of an array the process has made its own, asked of the kernel (Linux mincore).</summary>
public static class ResidentPages
{
    /// <summary>Of the pages wholly inside <paramref name="array"/>: how many are resident, and how many there are.</summary>
    public static (int Resident, int Pages) Of<T>(T[] array) where T : unmanaged
    {
        var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
        try
        {
            return Of(handle.AddrOfPinnedObject(), (long)array.Length * Unsafe.SizeOf<T>());
        }
        finally
        {
            handle.Free();
        }
    }

    /// <summary>Of the pages wholly inside [<paramref name="start"/>, + <paramref name="bytes"/>): how many are resident, and how many there are.</summary>
    public static (int Resident, int Pages) Of(nint start, long bytes)
    {
        var page = (long)Environment.SystemPageSize;
        var first = ((long)start + page - 1) & ~(page - 1);
        var last = ((long)start + bytes) & ~(page - 1);
        if (last <= first) return (0, 0);
        var vector = new byte[(last - first) / page];
        if (mincore((IntPtr)first, (nuint)(last - first), vector) != 0)
        {
            throw new IOException($"mincore failed: errno {Marshal.GetLastPInvokeError()}");
        }
        return (vector.Count(b => (b & 1) != 0), vector.Length);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mincore(IntPtr address, nuint length, byte[] vector);
}
