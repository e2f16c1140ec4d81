using System.Buffers.Binary;
using Flowline.Wire.Capture;
using Flowline.Records;

namespace Flowline.Wire.Tests;

public sealed class CaptureReaderTests
{
    private static readonly byte[] Payload = Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray();

    /// <summary>IPv4 header + UDP header + payload, or one fragment of it.</summary>
    private static byte[] Ipv4Udp(ReadOnlySpan<byte> payload, int fragmentOffset = 0, bool more = false, bool withUdp = true, int totalUdp = -1)
    {
        var udpLength = withUdp ? 8 : 0;
        var p = new byte[20 + udpLength + payload.Length];
        p[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), 0x1234);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(6), (ushort)((more ? 0x2000 : 0) | (fragmentOffset / 8)));
        p[8] = 64;
        p[9] = 17;
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(12), 0x0A000001);
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(16), 0x0A000002);
        if (withUdp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(20), 40000);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(22), 6343);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(24), (ushort)(totalUdp >= 0 ? totalUdp : 8 + payload.Length));
        }
        payload.CopyTo(p.AsSpan(20 + udpLength));
        return p;
    }

    private static byte[] Ethernet(byte[] ip) => [.. new byte[12], 0x08, 0x00, .. ip];

    private static byte[] Pcap(int linkType, bool bigEndian, params byte[][] frames)
    {
        var ms = new MemoryStream();
        void U32(uint v) { Span<byte> b = stackalloc byte[4]; if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, v); else BinaryPrimitives.WriteUInt32LittleEndian(b, v); ms.Write(b); }
        void U16(ushort v) { Span<byte> b = stackalloc byte[2]; if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, v); else BinaryPrimitives.WriteUInt16LittleEndian(b, v); ms.Write(b); }
        U32(0xA1B2C3D4); U16(2); U16(4); U32(0); U32(0); U32(65535); U32((uint)linkType);
        foreach (var f in frames)
        {
            U32(1_700_000_000); U32(250_000); U32((uint)f.Length); U32((uint)f.Length);
            ms.Write(f);
        }
        return ms.ToArray();
    }

    private static List<(long Ts, FlowAddress Src, ushort DstPort, byte[] Payload)> ReadAll(byte[] file, out CaptureStats stats)
    {
        using var reader = new CaptureReader(new MemoryStream(file));
        var list = new List<(long, FlowAddress, ushort, byte[])>();
        while (reader.TryRead(out var d)) list.Add((d.Timestamp, d.Src, d.DstPort, d.Payload.ToArray()));
        stats = reader.Stats;
        return list;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Reads_pcap_in_either_byte_order(bool bigEndian)
    {
        var d = Assert.Single(ReadAll(Pcap(1, bigEndian, Ethernet(Ipv4Udp(Payload.AsSpan(0, 100)))), out _));
        Assert.Equal(1_700_000_000_250_000, d.Ts);
        Assert.Equal(FlowAddress.Parse("10.0.0.1"), d.Src);
        Assert.Equal(6343, d.DstPort);
        Assert.Equal(Payload[..100], d.Payload);
    }

    [Fact]
    public void Reads_linux_cooked_v1_and_v2_raw_ip_and_loopback()
    {
        var ip = Ipv4Udp(Payload.AsSpan(0, 50));
        byte[] sll = [.. new byte[14], 0x08, 0x00, .. ip];
        byte[] sll2 = [0x08, 0x00, .. new byte[18], .. ip];
        byte[] loop = [2, 0, 0, 0, .. ip];
        Assert.Single(ReadAll(Pcap(113, false, sll), out _));
        Assert.Single(ReadAll(Pcap(276, false, sll2), out _));
        Assert.Single(ReadAll(Pcap(101, false, ip), out _));
        Assert.Single(ReadAll(Pcap(0, false, loop), out _));
    }

    [Fact]
    public void Reassembles_ipv4_fragments_arriving_out_of_order()
    {
        var udp = new byte[8 + 2000];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), 2055);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        Payload.AsSpan(0, 2000).CopyTo(udp.AsSpan(8));
        var f1 = Ipv4Udp(udp.AsSpan(0, 800), 0, more: true, withUdp: false);
        var f2 = Ipv4Udp(udp.AsSpan(800, 800), 800, more: true, withUdp: false);
        var f3 = Ipv4Udp(udp.AsSpan(1600), 1600, more: false, withUdp: false);
        var all = ReadAll(Pcap(1, false, Ethernet(f3), Ethernet(f1), Ethernet(f2)), out var stats);
        var d = Assert.Single(all);
        Assert.Equal(Payload[..2000], d.Payload);
        Assert.Equal(2055, d.DstPort);
        Assert.Equal(3, stats.Fragments);
        Assert.Equal(1, stats.Reassembled);
        Assert.Equal(0, stats.Incomplete);

        // Without its middle fragment the datagram is never whole: the summary says so.
        Assert.Empty(ReadAll(Pcap(1, false, Ethernet(f3), Ethernet(f1)), out stats));
        Assert.Equal((2, 0, 1), (stats.Fragments, stats.Reassembled, stats.Incomplete));
        Assert.Contains("1 incomplete at the end", stats.Summary());
    }

    [Fact]
    public void Reads_pcapng_with_nanosecond_timestamps()
    {
        var ms = new MemoryStream();
        void U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); ms.Write(b); }
        void U16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); ms.Write(b); }
        // Section header block
        U32(0x0A0D0D0A); U32(28); U32(0x1A2B3C4D); U16(1); U16(0); U32(0xFFFFFFFF); U32(0xFFFFFFFF); U32(28);
        // Interface description: Ethernet, if_tsresol = 9 (nanoseconds)
        U32(1); U32(32); U16(1); U16(0); U32(65535); U16(9); U16(1); ms.Write([9, 0, 0, 0]); U16(0); U16(0); U32(32);
        var frame = Ethernet(Ipv4Udp(Payload.AsSpan(0, 61)));
        var padded = (frame.Length + 3) & ~3;
        var total = (uint)(32 + padded);
        var ns = 1_700_000_000_123_456_789UL;
        U32(6); U32(total); U32(0); U32((uint)(ns >> 32)); U32((uint)ns); U32((uint)frame.Length); U32((uint)frame.Length);
        ms.Write(frame); ms.Write(new byte[padded - frame.Length]); U32(total);
        var d = Assert.Single(ReadAll(ms.ToArray(), out var stats));
        Assert.Equal(1_700_000_000_123_456L, d.Ts);
        Assert.Equal(Payload[..61], d.Payload);
        Assert.Equal(0, stats.CutShort);
        // Cut inside the packet block's header, then inside its body: nothing read, the cut counted.
        foreach (var cut in new[] { (int)(ms.Length - total + 6), (int)ms.Length - 5 })
        {
            Assert.Empty(ReadAll(ms.ToArray()[..cut], out stats));
            Assert.Equal(1, stats.CutShort);
        }
    }

    [Fact]
    public void Non_udp_and_snapped_packets_are_counted()
    {
        var tcp = Ipv4Udp(Payload.AsSpan(0, 10));
        tcp[9] = 6;
        var udpLongerThanFrame = Ipv4Udp(Payload.AsSpan(0, 10), totalUdp: 500);
        var list = ReadAll(Pcap(1, false, Ethernet(tcp), Ethernet(udpLongerThanFrame)), out var stats);
        Assert.Empty(list);
        Assert.Equal(1, stats.NotUdp);
        Assert.Equal(1, stats.Truncated);
    }

    [Fact]
    public void A_capture_cut_inside_its_last_packet_is_told_apart_from_snapped_packets()
    {
        var frames = new[] { Ethernet(Ipv4Udp(Payload.AsSpan(0, 100))), Ethernet(Ipv4Udp(Payload.AsSpan(0, 200))) };
        var whole = Pcap(1, false, frames);
        Assert.Equal(2, ReadAll(whole, out var stats).Count);
        Assert.Equal(0, stats.CutShort);
        var second = whole.Length - 16 - frames[1].Length;
        // Every cut from inside the second record's header to its last byte: the first packet is read, the second is not.
        for (var cut = second + 1; cut < whole.Length; cut++)
        {
            Assert.Single(ReadAll(whole[..cut], out stats));
            Assert.Equal(1, stats.CutShort);
            Assert.Equal(0, stats.Truncated);
        }
        // Cut exactly between records: a whole, shorter capture.
        Assert.Single(ReadAll(whole[..second], out stats));
        Assert.Equal(0, stats.CutShort);
    }

    [Fact]
    public void A_file_that_is_not_a_capture_says_so()
    {
        var e = Assert.Throws<CaptureFormatException>(() => new CaptureReader(new MemoryStream("hello, world\n"u8.ToArray()), name: "notes.txt"));
        Assert.Contains("notes.txt: not a capture file", e.Message);
        Assert.Contains("0x68656c6c6f2c2077", e.Message);
        var empty = Assert.Throws<CaptureFormatException>(() => new CaptureReader(new MemoryStream([]), name: "empty.pcap"));
        Assert.Contains("not a capture file", empty.Message);
    }
}
