using System.Net.Sockets;
using System.Runtime.InteropServices;
using Flowline.Records;

namespace Flowline.Ingest;

/// <summary>
/// Receives up to <see cref="Slots"/> datagrams in one system call (Linux <c>recvmmsg</c>, never
/// waiting), into pinned slots the caller then reads. Under load this replaces a system call per
/// datagram by one per batch.
/// </summary>
internal sealed class BatchReceiver : IDisposable
{
    public const int Slots = 32;
    private const int SlotBytes = DatagramRing.MaxDatagram;
    private const int NameBytes = 128; // sockaddr_storage
    private const int MessageBytes = 64; // struct mmsghdr on LP64
    private const int IovecBytes = 16;
    private const int MsgDontWait = 0x40;
    private const int EAGAIN = 11, EINTR = 4;

    private readonly byte[] _data = GC.AllocateUninitializedArray<byte>(Slots * SlotBytes, pinned: true);
    private readonly byte[] _names = GC.AllocateArray<byte>(Slots * NameBytes, pinned: true);
    private readonly IntPtr _messages = Marshal.AllocHGlobal(Slots * MessageBytes);
    private readonly IntPtr _iovecs = Marshal.AllocHGlobal(Slots * IovecBytes);
    private readonly int[] _lengths = new int[Slots];

    public static bool Supported => OperatingSystem.IsLinux() && IntPtr.Size == 8;

    public BatchReceiver()
    {
        var data = Marshal.UnsafeAddrOfPinnedArrayElement(_data, 0);
        var names = Marshal.UnsafeAddrOfPinnedArrayElement(_names, 0);
        for (var k = 0; k < Slots; k++)
        {
            var iov = _iovecs + k * IovecBytes;
            Marshal.WriteIntPtr(iov, data + k * SlotBytes);
            Marshal.WriteInt64(iov, 8, SlotBytes);
            var m = _messages + k * MessageBytes;
            for (var b = 0; b < MessageBytes; b += 8) Marshal.WriteInt64(m, b, 0);
            Marshal.WriteIntPtr(m, 0, names + k * NameBytes); // msg_name
            Marshal.WriteIntPtr(m, 16, iov);                  // msg_iov
            Marshal.WriteInt64(m, 24, 1);                     // msg_iovlen
        }
    }

    /// <summary>Takes what the socket holds, up to <see cref="Slots"/> datagrams; 0 when it holds nothing.</summary>
    public int Receive(Socket socket)
    {
        for (var k = 0; k < Slots; k++) Marshal.WriteInt32(_messages + k * MessageBytes, 8, NameBytes); // msg_namelen
        var handle = socket.SafeHandle;
        var added = false;
        int n;
        try
        {
            handle.DangerousAddRef(ref added);
            n = recvmmsg((int)handle.DangerousGetHandle(), _messages, Slots, MsgDontWait, IntPtr.Zero);
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
        if (n < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is EAGAIN or EINTR) return 0;
            throw new SocketException(errno);
        }
        for (var k = 0; k < n; k++) _lengths[k] = Marshal.ReadInt32(_messages + k * MessageBytes, 56); // msg_len
        return n;
    }

    public ReadOnlySpan<byte> Data(int k) => _data.AsSpan(k * SlotBytes, _lengths[k]);

    /// <summary>The sender's address of datagram k (sockaddr_in / sockaddr_in6).</summary>
    public FlowAddress Sender(int k)
    {
        var name = _names.AsSpan(k * NameBytes, NameBytes);
        var family = BitConverter.ToUInt16(name);
        return family switch
        {
            2 => FlowAddress.FromV4(name.Slice(4, 4)),
            10 => FlowAddress.FromV6(name.Slice(8, 16)),
            _ => default,
        };
    }

    public void Dispose()
    {
        Marshal.FreeHGlobal(_messages);
        Marshal.FreeHGlobal(_iovecs);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int recvmmsg(int fd, IntPtr messages, uint count, int flags, IntPtr timeout);
}
