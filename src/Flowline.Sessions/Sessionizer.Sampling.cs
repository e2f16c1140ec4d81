using Flowline.Records;
using System.Numerics;

namespace Flowline.Sessions;

/// <summary>
/// Input sampling, the sessionizer's load shedding: with <see cref="InputSampling"/> N above 1 only the sessions
/// whose key hashes into one N-th of the hash space are held (hash-based selection, RFC 7014 section 6.2.3: both
/// directions and every record of a session are in or out together) and every record added to them counts
/// N times, so that totals stay unbiased. The selected sets nest: the keys selected at 4 are among those
/// selected at 2, so a session held when N changes keeps being counted, each record scaled by the N of its
/// time. The owner sets N from the rate of new sessions (<see cref="SessionLimit"/> aside, serve's
/// <c>session_input_rate</c>); records left out are counted in <see cref="SampledOut"/>.
/// </summary>
public sealed partial class Sessionizer
{
    private int _inputSampling = 1;
    private uint _inputMask;

    /// <summary>1 (every session, the default) or a power of two up to 65536: one session in N is held, its counts times N.</summary>
    public int InputSampling
    {
        get => _inputSampling;
        set
        {
            if (value < 1 || value > 65536 || !BitOperations.IsPow2(value)) throw new ArgumentOutOfRangeException(nameof(value), "input sampling is a power of two from 1 to 65536");
            (_inputSampling, _inputMask) = (value, (uint)value - 1);
        }
    }

    /// <summary>Records of sessions the input sampling left out.</summary>
    public long SampledOut { get; private set; }

    /// <summary>New sessions each counted by the input sampling it was held at (the sessions it stands for): since the sessionizer was made, by the last flush's start, and in the interval that flush ended.</summary>
    private long _newSessions, _newSessionsAtFlush, _newSessionsBefore;

    /// <summary>The new sessions (held or left out, estimated from those held) since the sessionizer was made.</summary>
    public long NewSessions => _newSessions;

    /// <summary>The new sessions (held or left out, estimated from those held) of the last interval flushed.</summary>
    public long NewSessionsLastInterval => _newSessionsBefore;

    /// <summary>Whether a session is held under the input sampling, from its <see cref="SelectionHash"/>.</summary>
    private bool Selected(uint hash) => _inputMask == 0 || (BitOperations.RotateRight(hash * 0x9E3779B1u, 13) & _inputMask) == 0;

    /// <summary>
    /// The hash the input sampling selects by: of the two ends (address and port) in either order, so that
    /// both directions of a session get the same; ICMP by the addresses alone (an echo request and its reply
    /// differ in type). Every record of a session has the same two ends, so a session is in or out whole;
    /// sessions that differ only in the rest of their key (exporter, port of the inventory, networks) are in
    /// or out together, which keeps the two observations of a conversation alike.
    /// </summary>
    private static uint SelectionHash(in FlowAddress a, ushort aPort, in FlowAddress b, ushort bPort, byte protocol)
    {
        if (protocol is 1 or 58) aPort = bPort = 0;
        // A sum of the ends' own hashes: the same in either order.
        var h = End(a, aPort) + End(b, bPort) + protocol;
        h = (h ^ (h >> 31)) * 0xBF58476D1CE4E5B9UL;
        return (uint)(h ^ (h >> 32));
    }

    private static ulong End(in FlowAddress address, ushort port)
    {
        var z = address.Hi * 0xC2B2AE3D27D4EB4FUL ^ address.Lo ^ ((ulong)port << 48 | port);
        z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDUL;
        z = (z ^ (z >> 29)) * 0xC4CEB9FE1A85EC53UL;
        return z ^ (z >> 32);
    }
}
