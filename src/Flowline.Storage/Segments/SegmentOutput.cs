using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Flowline.Storage.Segments;

/// <summary>
/// The file a segment is written to, front to back, then completed: length set and flushed to disk.
/// <para>
/// On Linux it is opened with O_DIRECT and written in whole pages from a reused, page-aligned buffer. The
/// bytes then go from memory the process already holds to the device, instead of the kernel copying each
/// one into page-cache pages it must allocate first. Group commits write a segment a few times a second and
/// nobody reads it back soon, so caching it buys nothing, and on virtual machines whose host backs guest
/// memory lazily the copy into freshly allocated page-cache pages is as slow as the encoding itself. File
/// systems that refuse O_DIRECT (and other systems) get ordinary buffered writes through the same buffer.
/// </para>
/// </summary>
internal sealed class SegmentOutput : IDisposable
{
    /// <summary>Page size and the largest logical block size of common devices: offsets and lengths of direct writes.</summary>
    private const int Alignment = 4096;
    private const int BufferBytes = 1 << 20;

    private readonly SafeFileHandle _handle;
    private readonly bool _direct;
    private byte[]? _storage;
    private readonly int _start;
    private int _filled;
    private long _offset;

    public SegmentOutput(string path)
    {
        (_handle, _direct) = Open(path);
        _storage = Rent();
        // The aligned part of the pinned array.
        var address = Marshal.UnsafeAddrOfPinnedArrayElement(_storage, 0);
        _start = (int)((Alignment - (address % Alignment)) % Alignment);
    }

    /// <summary>Whether writes bypass the page cache.</summary>
    public bool Direct => _direct;

    /// <summary>Bytes written so far.</summary>
    public long Length => _offset + _filled;

    private Span<byte> Buffer => _storage.AsSpan(_start, BufferBytes);

    public void Write(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_storage is null, this);
        while (!data.IsEmpty)
        {
            var n = Math.Min(data.Length, BufferBytes - _filled);
            data[..n].CopyTo(Buffer[_filled..]);
            _filled += n;
            data = data[n..];
            if (_filled == BufferBytes)
            {
                RandomAccess.Write(_handle, Buffer, _offset);
                _offset += BufferBytes;
                _filled = 0;
            }
        }
    }

    /// <summary>Writes what is buffered, sets the file's length and flushes it to disk, then closes it.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_storage is null, this);
        var length = Length;
        if (_filled > 0)
        {
            // A direct write covers whole pages: the tail is padded with zeros, then cut off by the length.
            var write = _direct ? (_filled + Alignment - 1) / Alignment * Alignment : _filled;
            Buffer[_filled..write].Clear();
            RandomAccess.Write(_handle, Buffer[..write], _offset);
            if (_direct) RandomAccess.SetLength(_handle, length);
        }
        RandomAccess.FlushToDisk(_handle);
        Dispose();
    }

    public void Dispose()
    {
        if (_storage is null) return;
        _handle.Dispose();
        Return(_storage);
        _storage = null;
    }

    private static (SafeFileHandle Handle, bool Direct) Open(string path)
    {
        if (DirectIo != 0)
        {
            var fd = OpenFile(path, WriteOnly | Create | Truncate | CloseOnExec | DirectIo, 438 /* 0666, less the umask */);
            if (fd >= 0) return (new SafeFileHandle(fd, ownsHandle: true), true);
            var errno = Marshal.GetLastPInvokeError();
            if (errno != InvalidArgument)
            {
                throw new IOException($"cannot create {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
            }
            // EINVAL: this file system does not do direct I/O.
        }
        return (File.OpenHandle(path, FileMode.Create, FileAccess.Write, FileShare.None), false);
    }

    // Pinned, so the aligned part stays aligned; kept for the next segment, so steady commits touch no new memory.
    private static readonly Stack<byte[]> Spare = new();

    private static byte[] Rent()
    {
        lock (Spare)
        {
            if (Spare.Count > 0) return Spare.Pop();
        }
        return GC.AllocateUninitializedArray<byte>(BufferBytes + Alignment, pinned: true);
    }

    private static void Return(byte[] storage)
    {
        lock (Spare)
        {
            if (Spare.Count < 4) Spare.Push(storage);
        }
    }

    private const int WriteOnly = 0x1, Create = 0x40, Truncate = 0x200, CloseOnExec = 0x80000;

    /// <summary>O_DIRECT, whose value differs between Linux architectures; 0 where it is not known.</summary>
    private static readonly int DirectIo = !OperatingSystem.IsLinux() ? 0 : RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => 0,
    };
    private const int InvalidArgument = 22;

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int OpenFile([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);
}
