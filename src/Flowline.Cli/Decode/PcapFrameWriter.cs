using System.Buffers.Binary;
using Flowline.Wire;
using Flowline.Wire.Capture;
using Flowline.Records;

namespace Flowline.Cli.Decode;

/// <summary>
/// Writes the packet headers sampled by sFlow flow samples as a classic pcap stream (Ethernet link type),
/// one frame per sample, so that tcpdump and tshark can read them. Headers sampled as raw IPv4/IPv6
/// get a synthetic Ethernet header carrying the sample's MACs.
/// </summary>
internal sealed class PcapFrameWriter
{
    private const int FcsLength = 4;
    private readonly PcapWriter _pcap;
    private readonly byte[] _frame = new byte[14 + 65535];

    public PcapFrameWriter(Stream output) => _pcap = new PcapWriter(output);

    public long Frames => _pcap.Frames;

    public void Write(in FlowRecord r, in SampledPacket packet)
    {
        var header = packet.Header;
        if (header.IsEmpty)
        {
            return;
        }
        ulong original = packet.FrameLength;
        if (packet.HeaderProtocol == 1)
        {
            var length = Math.Min(header.Length, 65535);
            // sFlow's frame length counts the FCS that the sampled header does not hold.
            if (original >= FcsLength + (ulong)length) original -= FcsLength;
            _pcap.WriteFrame(r.TimeReceived, header[..length], (long)Math.Min(original, uint.MaxValue));
        }
        else if (packet.HeaderProtocol is 11 or 12)
        {
            // Raw IPv4/IPv6 headers get a synthetic Ethernet header carrying the sample's MACs.
            var frame = _frame.AsSpan();
            MacAddress.Write(r.DstMac, frame);
            MacAddress.Write(r.SrcMac, frame[6..]);
            BinaryPrimitives.WriteUInt16BigEndian(frame[12..], packet.HeaderProtocol == 12 ? (ushort)0x86DD : (ushort)0x0800);
            var length = 14 + Math.Min(header.Length, 65535 - 14);
            header[..(length - 14)].CopyTo(frame[14..]);
            _pcap.WriteFrame(r.TimeReceived, frame[..length], (long)Math.Min(original + 14, uint.MaxValue));
        }
        // Other link layers (802.11, PPP, MPLS ...) do not fit an Ethernet capture and are left out.
    }
}
