using System.Buffers.Binary;
using Flowline.Wire.Encoders;

namespace Flowline.Testing;

/// <summary>
/// A datagram as a Host sFlow agent (hsflowd) sends it for a hypervisor and one of its containers, laid out by hand
/// from the sFlow Host Structures specification (sflow.org/sflow_host.txt), agent 192.0.2.7.
/// </summary>
public static class HostSflow
{
    public static readonly Guid HostUuid = Guid.Parse("8f3b2a10-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
    public static readonly Guid ContainerUuid = Guid.Parse("00112233-4455-6677-8899-aabbccddeeff");

    private static void Str(ref WireWriter w, string s)
    {
        var b = System.Text.Encoding.UTF8.GetBytes(s);
        w.U32((uint)b.Length);
        w.Bytes(b);
        w.Align4();
    }

    private static void Uuid(ref WireWriter w, Guid g)
    {
        Span<byte> b = stackalloc byte[16];
        g.TryWriteBytes(b, bigEndian: true, out _);
        w.Bytes(b);
    }

    private delegate void Body(ref WireWriter w);

    private static void Record(ref WireWriter w, uint format, Body body)
    {
        w.U32(format);
        var at = w.Position;
        w.U32(0);
        var start = w.Position;
        body(ref w);
        BinaryPrimitives.WriteUInt32BigEndian(w.At(at), (uint)(w.Position - start));
    }

    /// <summary>Two counters_samples: the hypervisor (2:1) and a container on it (3:7), every host structure in them.</summary>
    public static byte[] Datagram(uint sequence = 1, ulong nioBytesIn = 5_000_000_000, string? containerName = "web-1", float loadOne = 1.5f)
    {
        var buffer = new byte[4096];
        var w = new WireWriter(buffer);
        w.U32(5); w.U32(1); w.U32(0xC0000207); w.U32(0); w.U32(sequence); w.U32(123_000); w.U32(2);

        w.U32(2); var lengthAt = w.Position; w.U32(0); var start = w.Position;
        w.U32(sequence); w.U32((2u << 24) | 1); w.U32(7);
        Record(ref w, 2000, (ref WireWriter b) => { Str(ref b, "hv-7.example.net"); Uuid(ref b, HostUuid); b.U32(3); b.U32(2); Str(ref b, "6.1.0-28-amd64"); });
        Record(ref w, 2001, (ref WireWriter b) =>
        {
            b.U32(2);
            b.U32(2); b.U32(1); b.Mac(0x02_00_00_00_00_0A); b.Zeros(2);
            b.U32(3); b.U32(2); b.Mac(0x02_00_00_00_00_0B); b.Zeros(2); b.Mac(0x02_00_00_00_00_0C); b.Zeros(2);
        });
        Record(ref w, 2004, (ref WireWriter b) => { b.U64(64UL << 30); b.U64(40UL << 30); for (var i = 0; i < 5; i++) b.U64((ulong)i); for (var i = 0; i < 4; i++) b.U32((uint)i); });
        Record(ref w, 2005, (ref WireWriter b) => { b.U64(1UL << 40); b.U64(600UL << 30); b.U32(8123); b.U32(1000); b.U64(4_000_000); b.U32(50); b.U32(2000); b.U64(8_000_000); b.U32(70); });
        Record(ref w, 2006, (ref WireWriter b) => { b.U64(nioBytesIn); b.U32(4_000_000); b.U32(1); b.U32(2); b.U64(6_000_000_000); b.U32(5_000_000); b.U32(3); b.U32(4); });
        Record(ref w, 2100, (ref WireWriter b) => { b.U32(2400); b.U32(32); b.U64(128UL << 30); b.U64(90UL << 30); b.U32(12); });
        Record(ref w, 2003, (ref WireWriter b) => { b.U32((uint)BitConverter.SingleToInt32Bits(loadOne)); b.U32(0); b.U32(0); for (var i = 0; i < 17; i++) b.U32((uint)i); });
        BinaryPrimitives.WriteUInt32BigEndian(w.At(lengthAt), (uint)(w.Position - start));

        w.U32(2); lengthAt = w.Position; w.U32(0); start = w.Position;
        w.U32(sequence); w.U32((3u << 24) | 7); w.U32(containerName is null ? 5u : 6u);
        if (containerName is not null)
            Record(ref w, 2000, (ref WireWriter b) => { Str(ref b, containerName); Uuid(ref b, ContainerUuid); b.U32(3); b.U32(2); Str(ref b, ""); });
        Record(ref w, 2002, (ref WireWriter b) => { b.U32(2); b.U32(1); });
        Record(ref w, 2101, (ref WireWriter b) => { b.U32(1); b.U32(987_654); b.U32(4); });
        Record(ref w, 2102, (ref WireWriter b) => { b.U64(2UL << 30); b.U64(4UL << 30); });
        Record(ref w, 2103, (ref WireWriter b) => { b.U64(100UL << 30); b.U64(20UL << 30); b.U64(80UL << 30); b.U32(11); b.U64(12_000); b.U32(13); b.U64(14_000); b.U32(0); });
        Record(ref w, 2104, (ref WireWriter b) => { b.U64(nioBytesIn / 10); b.U32(21); b.U32(0); b.U32(1); b.U64(31_000); b.U32(41); b.U32(0); b.U32(2); });
        BinaryPrimitives.WriteUInt32BigEndian(w.At(lengthAt), (uint)(w.Position - start));
        return buffer.AsSpan(0, w.Position).ToArray();
    }
}
