namespace Flowline.Wire.Capture;

/// <summary>The input is not a pcap/pcapng capture, or its structure is broken at a given offset.</summary>
public sealed class CaptureFormatException(string message) : Exception(message);
