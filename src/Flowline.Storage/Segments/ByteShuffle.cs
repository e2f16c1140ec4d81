using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Flowline.Storage.Segments;

/// <summary>
/// Byte shuffle: the bytes of fixed-size values regrouped by significance, so that the mostly-zero high
/// bytes sit together for the compressor.
/// </summary>
internal static class ByteShuffle
{
    /// <summary>Regroups the bytes of fixed-size values by significance: byte b of value i goes to destination[b * n + i].</summary>
    public static void Shuffle(ReadOnlySpan<byte> source, Span<byte> destination, int size)
    {
        var n = source.Length / size;
        if (size == 1)
        {
            source[..n].CopyTo(destination);
            return;
        }
        // One sequential pass over the values, writing every plane as it goes.
        ref var from = ref MemoryMarshal.GetReference(source);
        ref var to = ref MemoryMarshal.GetReference(destination);
        switch (size)
        {
            case 2:
                for (var i = 0; i < n; i++)
                {
                    var v = Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref from, i * 2));
                    Unsafe.Add(ref to, i) = (byte)v;
                    Unsafe.Add(ref to, n + i) = (byte)(v >> 8);
                }
                return;
            case 4:
                for (var i = 0; i < n; i++)
                {
                    var v = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref from, i * 4));
                    Unsafe.Add(ref to, i) = (byte)v;
                    Unsafe.Add(ref to, n + i) = (byte)(v >> 8);
                    Unsafe.Add(ref to, 2 * n + i) = (byte)(v >> 16);
                    Unsafe.Add(ref to, 3 * n + i) = (byte)(v >> 24);
                }
                return;
            case 8 or 16:
                for (var half = 0; half < size; half += 8)
                {
                    ref var p0 = ref Unsafe.Add(ref to, half * n);
                    ref var p1 = ref Unsafe.Add(ref p0, n);
                    ref var p2 = ref Unsafe.Add(ref p1, n);
                    ref var p3 = ref Unsafe.Add(ref p2, n);
                    ref var p4 = ref Unsafe.Add(ref p3, n);
                    ref var p5 = ref Unsafe.Add(ref p4, n);
                    ref var p6 = ref Unsafe.Add(ref p5, n);
                    ref var p7 = ref Unsafe.Add(ref p6, n);
                    ref var value = ref Unsafe.Add(ref from, half);
                    for (var i = 0; i < n; i++)
                    {
                        var v = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref value, i * size));
                        Unsafe.Add(ref p0, i) = (byte)v;
                        Unsafe.Add(ref p1, i) = (byte)(v >> 8);
                        Unsafe.Add(ref p2, i) = (byte)(v >> 16);
                        Unsafe.Add(ref p3, i) = (byte)(v >> 24);
                        Unsafe.Add(ref p4, i) = (byte)(v >> 32);
                        Unsafe.Add(ref p5, i) = (byte)(v >> 40);
                        Unsafe.Add(ref p6, i) = (byte)(v >> 48);
                        Unsafe.Add(ref p7, i) = (byte)(v >> 56);
                    }
                }
                return;
        }
        for (var b = 0; b < size; b++)
        {
            var plane = destination.Slice(b * n, n);
            for (var i = 0; i < n; i++) plane[i] = source[i * size + b];
        }
    }

    public static void Unshuffle(ReadOnlySpan<byte> source, Span<byte> destination, int size)
    {
        var n = destination.Length / size;
        switch (size)
        {
            case 1:
                source[..n].CopyTo(destination);
                return;
            case 2:
            {
                var p0 = source[..n];
                var p1 = source.Slice(n, n);
                for (var i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(destination[(i * 2)..], (ushort)(p0[i] | (p1[i] << 8)));
                return;
            }
            case 4:
            {
                var p0 = source[..n];
                var p1 = source.Slice(n, n);
                var p2 = source.Slice(2 * n, n);
                var p3 = source.Slice(3 * n, n);
                for (var i = 0; i < n; i++)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(destination[(i * 4)..], p0[i] | ((uint)p1[i] << 8) | ((uint)p2[i] << 16) | ((uint)p3[i] << 24));
                }
                return;
            }
            case 8 or 16:
            {
                // Eight planes at a time make one ulong: one sequential store per value instead of eight strided ones.
                for (var half = 0; half < size / 8; half++)
                {
                    var p0 = source.Slice((half * 8 + 0) * n, n);
                    var p1 = source.Slice((half * 8 + 1) * n, n);
                    var p2 = source.Slice((half * 8 + 2) * n, n);
                    var p3 = source.Slice((half * 8 + 3) * n, n);
                    var p4 = source.Slice((half * 8 + 4) * n, n);
                    var p5 = source.Slice((half * 8 + 5) * n, n);
                    var p6 = source.Slice((half * 8 + 6) * n, n);
                    var p7 = source.Slice((half * 8 + 7) * n, n);
                    for (var i = 0; i < n; i++)
                    {
                        var v = p0[i] | ((ulong)p1[i] << 8) | ((ulong)p2[i] << 16) | ((ulong)p3[i] << 24)
                              | ((ulong)p4[i] << 32) | ((ulong)p5[i] << 40) | ((ulong)p6[i] << 48) | ((ulong)p7[i] << 56);
                        BinaryPrimitives.WriteUInt64LittleEndian(destination[(i * size + half * 8)..], v);
                    }
                }
                return;
            }
            default:
                for (var b = 0; b < size; b++)
                {
                    var plane = source.Slice(b * n, n);
                    for (var i = 0; i < n; i++) destination[i * size + b] = plane[i];
                }
                return;
        }
    }
}
