using System.Buffers.Binary;
using Flowline.Wire;
using Flowline.Wire.Capture;
using Flowline.Wire.Records;

namespace Flowline.Cli.Decode;

/// <summary>
/// Writes the packet headers sampled by sFlow flow samples as a classic pcap stream (Ethernet link type),
/// one frame per sample, so that tcpdump and tshark can read them. Headers sampled as raw IPv4/IPv6
/// get a synthetic Ethernet header carrying the sample's MACs.
/// </summary>
internal sealed class PcapFrameWriter
{
    private const int FcsLength = 4;
    private readonly Stream _out;
    private readonly byte[] _frame = new byte[16 + 14 + 65535];

    public PcapFrameWriter(Stream output)
    {
        _out = output;
        Span<byte> h = stackalloc byte[PcapFormat.GlobalHeaderLength];
        PcapFormat.WriteGlobalHeader(h);
        _out.Write(h);
    }

    public long Frames { get; private set; }

    public void Write(in FlowRecord r, in SampledPacket packet)
    {
        var header = packet.Header;
        if (header.IsEmpty)
        {
            return;
        }
        var frame = _frame.AsSpan(16);
        int length;
        ulong original = packet.FrameLength;
        if (packet.HeaderProtocol == 1)
        {
            length = Math.Min(header.Length, 65535);
            header[..length].CopyTo(frame);
            // sFlow's frame length counts the FCS that the sampled header does not hold.
            if (original >= FcsLength + (ulong)length) original -= FcsLength;
        }
        else if (packet.HeaderProtocol is 11 or 12)
        {
            MacAddress.Write(r.DstMac, frame);
            MacAddress.Write(r.SrcMac, frame[6..]);
            BinaryPrimitives.WriteUInt16BigEndian(frame[12..], packet.HeaderProtocol == 12 ? (ushort)0x86DD : (ushort)0x0800);
            length = 14 + Math.Min(header.Length, 65535 - 14);
            header[..(length - 14)].CopyTo(frame[14..]);
            original += 14;
        }
        else
        {
            return; // other link layers (802.11, PPP, MPLS ...) do not fit an Ethernet capture
        }
        PcapFormat.WriteRecordHeader(_frame, r.TimeReceived, length, (long)Math.Min(original, uint.MaxValue));
        _out.Write(_frame, 0, 16 + length);
        Frames++;
    }
}
