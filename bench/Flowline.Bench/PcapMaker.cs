using System.Buffers.Binary;
using Flowline.Wire.Capture;
using Flowline.Records;

namespace Flowline.Bench;

/// <summary>
/// Writes a large capture for whole-process timing: a capture's datagrams repeated in order, with
/// increasing timestamps and the sFlow datagram sequence numbers renumbered.
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
        var writer = new PcapWriter(file);
        var loopback = FlowAddress.Parse("127.0.0.1");
        var start = 1_795_000_000L * 1_000_000;
        for (var i = 0; i < count; i++)
        {
            var (payload, port) = source[i % source.Count];
            if (payload.Length >= 24 && BinaryPrimitives.ReadUInt32BigEndian(payload) == 5)
            {
                // sFlow: keep the datagram sequence increasing (IPv4 agent: sequence at byte 16).
                payload = (byte[])payload.Clone();
                BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(16), (uint)(i + 1));
            }
            writer.WriteUdp(start + i * 50L, loopback, 40000, loopback, port, payload);
        }
    }
}
