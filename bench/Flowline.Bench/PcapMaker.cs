using System.Buffers.Binary;
using Flowline.Wire.Capture;

namespace Flowline.Bench;

/// <summary>
/// Writes a large capture for whole-process timing: a capture's datagrams repeated in order, with
/// increasing timestamps and the sFlow datagram sequence numbers renumbered, as Ethernet/IPv4/UDP frames.
/// </summary>
public static class PcapMaker
{
    public static void Make(string capture, string output, int count)
    {
        var source = new List<(byte[] Payload, ushort DstPort)>();
        using (var reader = CaptureReader.Open(Path.Combine(Corpus.Directory, capture + ".pcap")))
        {
            while (reader.TryRead(out var d)) source.Add((d.Payload.ToArray(), d.DstPort));
        }
        using var file = new BufferedStream(File.Create(output), 1 << 20);
        Span<byte> header = stackalloc byte[PcapFormat.GlobalHeaderLength];
        PcapFormat.WriteGlobalHeader(header);
        file.Write(header);
        var frame = new byte[16 + 14 + 20 + 8 + 65535];
        var start = 1_795_000_000L * 1_000_000;
        for (var i = 0; i < count; i++)
        {
            var (payload, port) = source[i % source.Count];
            var ts = start + i * 50L;
            var length = 14 + 20 + 8 + payload.Length;
            var f = frame.AsSpan();
            PcapFormat.WriteRecordHeader(f, ts, length, length);
            var e = f[16..];
            e[..12].Clear();
            BinaryPrimitives.WriteUInt16BigEndian(e[12..], 0x0800);
            var ip = e[14..];
            ip[0] = 0x45; ip[1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + payload.Length));
            BinaryPrimitives.WriteUInt32BigEndian(ip[4..], 0x4000_0000);
            ip[8] = 64; ip[9] = 17;
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], 0);
            BinaryPrimitives.WriteUInt32BigEndian(ip[12..], 0x7F000001);
            BinaryPrimitives.WriteUInt32BigEndian(ip[16..], 0x7F000001);
            var udp = ip[20..];
            BinaryPrimitives.WriteUInt16BigEndian(udp, 40000);
            BinaryPrimitives.WriteUInt16BigEndian(udp[2..], port);
            BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload.Length));
            BinaryPrimitives.WriteUInt16BigEndian(udp[6..], 0);
            payload.CopyTo(udp[8..]);
            if (payload.Length >= 24 && BinaryPrimitives.ReadUInt32BigEndian(payload) == 5)
            {
                // sFlow: keep the datagram sequence increasing (IPv4 agent: sequence at byte 16).
                BinaryPrimitives.WriteUInt32BigEndian(udp[(8 + 16)..], (uint)(i + 1));
            }
            file.Write(frame, 0, 16 + length);
        }
    }
}
