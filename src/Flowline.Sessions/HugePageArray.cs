using System.Runtime.InteropServices;

namespace Flowline.Sessions;

/// <summary>
/// A large array of unmanaged structs outside the garbage-collected heap, for tables read at random: the
/// address space for <see cref="Length"/> elements is reserved at once, but memory becomes resident only as
/// elements are first written (so a table sized for its cap costs what it holds), and on Linux the range is
/// offered to the kernel's transparent huge pages (madvise MADV_HUGEPAGE): 2 MiB pages, one fault and one
/// TLB entry where 4 KiB pages need 512 — random access over hundreds of megabytes otherwise misses the
/// TLB on nearly every lookup. Elements never written read as zero; <see cref="Discard"/> gives a range's
/// memory back (it reads as zero again). Elsewhere the memory is allocated zeroed at once.
/// </summary>
internal sealed unsafe class HugePageArray<T> : IDisposable where T : unmanaged
{
    private const nuint HugePage = 2 << 20;
    private const int ProtRead = Libc.ProtRead, ProtWrite = Libc.ProtWrite, MapPrivate = Libc.MapPrivate, MapAnonymous = Libc.MapAnonymous, MapNoReserve = Libc.MapNoReserve;
    private const int MadvDontNeed = Libc.MadvDontNeed, MadvHugePage = Libc.MadvHugePage;
    private byte* _mapping;
    private readonly nuint _mappingBytes;
    private readonly T* _items;
    private readonly bool _mapped;

    public HugePageArray(int length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        Length = length;
        var bytes = (nuint)length * (nuint)sizeof(T);
        if (OperatingSystem.IsLinux())
        {
            // One huge page more than needed, so that the elements can start on a huge-page boundary.
            _mappingBytes = bytes + HugePage;
            var p = Libc.Mmap(0, _mappingBytes, ProtRead | ProtWrite, MapPrivate | MapAnonymous | MapNoReserve, -1, 0);
            if (p == -1) throw new OutOfMemoryException($"cannot reserve {bytes >> 20} MiB for a table (mmap: errno {Marshal.GetLastPInvokeError()})");
            _mapping = (byte*)p;
            _mapped = true;
            var aligned = ((nuint)p + HugePage - 1) & ~(HugePage - 1);
            _items = (T*)aligned;
            // Advice only: without transparent huge pages the table works on small pages.
            _ = Libc.Madvise((nint)aligned, bytes, MadvHugePage);
        }
        else
        {
            _mappingBytes = bytes;
            _mapping = (byte*)NativeMemory.AllocZeroed(bytes);
            _items = (T*)_mapping;
        }
    }

    /// <summary>Elements the array holds (fixed).</summary>
    public int Length { get; }

    public ref T this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Length) ThrowIndex(index);
            return ref _items[index];
        }
    }

    /// <summary>The address of element <paramref name="index"/> (for prefetching; no bounds check, nothing read).</summary>
    public T* Address(int index) => _items + index;

    /// <summary>Sets elements [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) to zero.</summary>
    public void Clear(int start, int count)
    {
        Check(start, count);
        Zero((byte*)(_items + start), (byte*)(_items + start + count));
    }

    /// <summary>Sets elements [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) to zero and gives back the whole pages among them.</summary>
    public void Discard(int start, int count)
    {
        Check(start, count);
        var from = (byte*)(_items + start);
        var to = (byte*)(_items + start + count);
        const nuint page = 4096;
        var firstPage = (byte*)(((nuint)from + page - 1) & ~(page - 1));
        var lastPage = (byte*)((nuint)to & ~(page - 1));
        // Private anonymous memory reads as zero after MADV_DONTNEED; without it, or when it fails, it is cleared by hand.
        if (!_mapped || firstPage >= lastPage || Libc.Madvise((nint)firstPage, (nuint)(lastPage - firstPage), MadvDontNeed) != 0)
        {
            Zero(from, to);
            return;
        }
        Zero(from, firstPage);
        Zero(lastPage, to);
    }

    private void Check(int start, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)start + count, Length);
    }

    private static void Zero(byte* from, byte* to)
    {
        for (var p = from; p < to; p += 1 << 30) new Span<byte>(p, (int)Math.Min(1 << 30, to - p)).Clear();
    }

    private static void ThrowIndex(int index) => throw new IndexOutOfRangeException($"index {index} outside the table");

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~HugePageArray() => Free();

    private void Free()
    {
        var p = _mapping;
        if (p is null) return;
        _mapping = null;
        if (_mapped) _ = Libc.Munmap((nint)p, _mappingBytes);
        else NativeMemory.Free(p);
    }
}

/// <summary>The memory calls of the C library that <see cref="HugePageArray{T}"/> uses.</summary>
internal static class Libc
{
    public const int ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapAnonymous = 0x20, MapNoReserve = 0x4000;
    public const int MadvDontNeed = 4, MadvHugePage = 14;

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static extern nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "munmap")]
    public static extern int Munmap(nint address, nuint length);

    [DllImport("libc", EntryPoint = "madvise")]
    public static extern int Madvise(nint address, nuint length, int advice);
}
