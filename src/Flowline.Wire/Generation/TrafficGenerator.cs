using Flowline.Records;

namespace Flowline.Wire.Generation;

/// <summary>
/// Deterministic synthetic traffic: the same seed gives the same records, in the same order, on any
/// machine. Clients and servers are drawn Zipf-distributed from fixed pools (a few hosts carry most
/// flows), services from a weighted list of real ports, client ports from the ephemeral range, and
/// packet counts from a Pareto tail (most flows are tiny, a few are huge).
/// </summary>
public sealed class TrafficGenerator
{
    private static readonly (ushort Port, byte Proto, int Weight)[] Services =
    [
        (443, 6, 35), (80, 6, 15), (53, 17, 15), (8080, 6, 5), (443, 17, 6), (22, 6, 4), (3306, 6, 3), (5432, 6, 3),
        (6379, 6, 3), (123, 17, 3), (25, 6, 2), (993, 6, 2), (9092, 6, 2), (2049, 6, 2),
    ];

    private readonly Random _random;
    private readonly double[] _clientCdf;
    private readonly double[] _serverCdf;
    private readonly int[] _serviceCdf;
    private readonly long _intervalMicros;
    private long _next;
    private long _index;

    public TrafficGenerator(int seed, int hosts = 10_000, double zipfExponent = 1.1, long startMicros = 1_795_000_000_000_000,
        double flowsPerSecond = 10_000, uint samplingRate = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hosts, 10);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(flowsPerSecond);
        _random = new Random(seed);
        Hosts = hosts;
        _clientCdf = ZipfCdf(hosts, zipfExponent);
        _serverCdf = ZipfCdf(Math.Max(10, hosts / 10), zipfExponent);
        var total = 0;
        _serviceCdf = Services.Select(s => total += s.Weight).ToArray();
        _intervalMicros = Math.Max(1, (long)(1_000_000 / flowsPerSecond));
        _next = startMicros;
        StartMicros = startMicros;
        SamplingRate = Math.Max(1, samplingRate);
    }

    /// <summary>When the first flow starts (µs since the epoch).</summary>
    public long StartMicros { get; }

    public int Hosts { get; }
    public uint SamplingRate { get; }

    /// <summary>
    /// Servers on internet addresses (spread over the public IPv4 /8s and 2a00::/12) rather than
    /// 172.16.0.0/12 and fd01::/64, so that enrichment has countries and AS numbers to look up.
    /// </summary>
    public bool PublicServers { get; init; }

    private static double[] ZipfCdf(int n, double s)
    {
        var cdf = new double[n];
        var sum = 0.0;
        for (var k = 1; k <= n; k++)
        {
            sum += 1 / Math.Pow(k, s);
            cdf[k - 1] = sum;
        }
        for (var k = 0; k < n; k++) cdf[k] /= sum;
        return cdf;
    }

    private int Zipf(double[] cdf)
    {
        var i = Array.BinarySearch(cdf, _random.NextDouble());
        return Math.Min(i < 0 ? ~i : i, cdf.Length - 1);
    }

    /// <summary>The rank-th client (0 = the busiest): 10.x.y.z, one in ten on IPv6 fd00::/64.</summary>
    public static FlowAddress Client(int rank, bool v6) =>
        v6 ? new FlowAddress(0xFD00_0000_0000_0000UL, (ulong)rank + 1) : FlowAddress.FromV4(0x0A00_0000u + (uint)rank + 1);

    /// <summary>The rank-th server: 172.16.x.y, or fd01::/64 for IPv6 clients.</summary>
    public static FlowAddress Server(int rank, bool v6) =>
        v6 ? new FlowAddress(0xFD01_0000_0000_0000UL, (ulong)rank + 1) : FlowAddress.FromV4(0xAC10_0000u + (uint)rank + 1);

    /// <summary>
    /// The rank-th public server: a fixed, scattered address outside every private, shared, loopback,
    /// link-local, documentation and multicast range; IPv6 in 2a00::/12.
    /// </summary>
    public static FlowAddress PublicServer(int rank, bool v6)
    {
        var h = (uint)(rank + 1) * 2_654_435_761u;
        h ^= h >> 15;
        h *= 0x2C1B_3C6Du;
        h ^= h >> 12;
        if (v6) return new FlowAddress(0x2A00_0000_0000_0000UL | (ulong)(h & 0x000F_FFFF) << 32, (ulong)rank + 1);
        var octet = 1 + (h >> 24) % 223;
        if (octet is 10 or 100 or 127 or 169 or 172 or 192 or 198 or 203) octet++;
        return FlowAddress.FromV4(octet << 24 | (h & 0x00FF_FFFF));
    }

    public FlowRecord Next()
    {
        var v6 = _random.Next(10) == 0;
        var client = Client(Zipf(_clientCdf), v6);
        var serverRank = Zipf(_serverCdf);
        var server = PublicServers ? PublicServer(serverRank, v6) : Server(serverRank, v6);
        var pick = _random.Next(_serviceCdf[^1]);
        var service = Services[Array.FindIndex(_serviceCdf, c => pick < c)];
        var clientPort = (ushort)_random.Next(32768, 61000);
        // Pareto tail: P(packets > x) = x^-1.3.
        var packets = (ulong)Math.Min(1_000_000, Math.Floor(1 / Math.Pow(1 - _random.NextDouble(), 1 / 1.3)));
        var averageSize = packets == 1 ? _random.Next(60, 200) : _random.Next(200, 1500);
        var start = _next;
        _next += _intervalMicros;
        var response = _random.Next(2) == 0;
        var r = new FlowRecord
        {
            TimeReceived = start,
            Start = start,
            End = start + Math.Min(60_000_000L, (long)packets * 10_000),
            IpVersion = v6 ? (byte)6 : (byte)4,
            EtherType = v6 ? (ushort)0x86DD : (ushort)0x0800,
            IpProto = service.Proto,
            SrcAddr = response ? server : client,
            DstAddr = response ? client : server,
            SrcPort = response ? service.Port : clientPort,
            DstPort = response ? clientPort : service.Port,
            TcpFlags = service.Proto == 6 ? (ushort)(packets == 1 ? 0x02 : 0x1B) : (ushort)0,
            InIf = response ? 2u : 1u,
            OutIf = response ? 1u : 2u,
            SrcMac = 0x0200_0000_0000UL | (response ? server.Lo & 0xFFFF_FFFF : client.Lo & 0xFFFF_FFFF),
            DstMac = 0x0200_0000_0000UL | (response ? client.Lo & 0xFFFF_FFFF : server.Lo & 0xFFFF_FFFF),
            Direction = 0,
            SamplingRate = SamplingRate,
            SampledPackets = packets,
            SampledBytes = packets * (ulong)averageSize,
        };
        r.Packets = r.SampledPackets * SamplingRate;
        r.Bytes = r.SampledBytes * SamplingRate;
        _index++;
        return r;
    }

    public long Generated => _index;
}
