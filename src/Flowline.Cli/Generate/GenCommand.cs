using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Flowline.Wire.Capture;
using Flowline.Wire.Generation;
using Flowline.Records;

namespace Flowline.Cli.Generate;

/// <summary>`flowline gen`: deterministic synthetic flow exports to a UDP collector or a pcap file.</summary>
internal static class GenCommand
{
    public const string Help = """
        Usage: flowline gen --protocol sflow|netflow5|netflow9|ipfix --count FLOWS (--target udp://HOST:PORT | --pcap FILE) [options]
               flowline gen --protocol P --mix SRC>DST=RATE[@KIND[:PORT]][*FRAME][,...] --duration SECONDS --target udp://HOST:PORT [options]

        Generates synthetic, reproducible traffic and exports it: Zipf-distributed clients and servers
        (10.0.0.0/8 and 172.16.0.0/12, one flow in ten over IPv6), real service ports with ephemeral
        client ports, and Pareto-tailed flow sizes. The same --seed gives the same datagrams.

        Options:
          --protocol P        sflow (one flow sample per flow), netflow5 (IPv4 flows only), netflow9 or ipfix
          --count N           flows to generate
          --target udp://H:P  send the datagrams to a collector
          --pcap FILE         write the datagrams to a pcap file instead ("-" for standard output)
          --rate R            flows per second when sending (default: as fast as possible); also sets
                              the spacing of the flows' timestamps (default 10000/s)
          --seed S            random seed (default 1)
          --hosts N           size of the client pool (default 10000; servers are a tenth of it)
          --public-servers    servers on internet addresses (scattered over the public IPv4 space
                              and 2a00::/12) instead of 172.16.0.0/12, so that they have a country
                              and an AS to look up
          --sampling N        sampling rate announced and applied (default 1)
          --start TIME        timestamp of the first flow, RFC 3339 (default 2026-11-19T00:00:00Z, a fixed
                              time so that runs repeat; a serve keeping less than that is old, 15 days by
                              default, drops them at its next retention pass: keep them with
                              --start "$(date -u +%FT%TZ)")
          --no-templates      NetFlow v9 / IPFIX without template sets (the collector must know them already)
          --drop-every N      leave out every Nth datagram (never the first) after numbering it, to
                              test loss accounting; what was left out is reported at the end
          --preload           encode every datagram before sending the first, so the sending loop costs
                              only the system calls: for measuring collectors faster than the encoder
                              (needs about 50 bytes of memory per flow)
          -q, --quiet         no progress on standard error

        A known mix instead (--mix, sent in real time): each talker sends frames of --frame bytes
        (default 1000; *FRAME for one talker) at RATE bytes per second (k, M, G allowed), each frame
        sampled with probability 1/--sampling, for --duration seconds. sFlow carries each sampled frame's
        header and the agent's ifIndex 1 counters (the exact octets sent) every --counter-interval seconds
        (default 1); NetFlow v9 and IPFIX carry one record a sampled frame. The true rates are known, so
        an analyzer's estimates can be checked against them. SRC may be a prefix: every frame then comes
        from a random address of it. KIND is what the talker sends (PORT as noted):
          tcp            TCP with ACK to 443 (the default)
          syn[:PORT]     SYN without ACK from random ports to PORT (80): a SYN flood
          synack[:PORT]  SYN-ACK from PORT (80) to random ports: TCP reflection
          udp[:PORT]     UDP from random ports to PORT (random): a UDP flood
          udp-from[:PORT] UDP from PORT (53) to random ports: amplification (DNS, NTP 123, ...)
          icmp[:TYPE]    ICMP of TYPE (echo request)
          unreach        ICMP port unreachable
          ip[:PROTO]     IP protocol PROTO (47, GRE)
          frag[:PROTO]   fragments of UDP (or PROTO): a first fragment to three later ones (sFlow;
                         IPFIX for IPv4, with fragmentFlags and fragmentOffset)
          --mix "10.0.0.1>10.0.0.2=5M,10.0.0.3>10.0.0.2=2M"
          --mix "203.0.113.0/24>198.51.100.10=60M@udp-from:53*1200,10.0.0.1>198.51.100.10=1M"
        """;

    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(Console.Out, Help);
            return 0;
        }
        FlowProtocol protocol = FlowProtocol.Unknown;
        long count = -1;
        string? target = null, pcap = null;
        double rate = 0;
        int seed = 1, hosts = 10_000;
        uint sampling = 1;
        var start = new DateTimeOffset(2026, 11, 19, 0, 0, 0, TimeSpan.Zero);
        var quiet = false;
        long dropEvery = 0, droppedDatagrams = 0, droppedFlows = 0;
        var templates = true;
        var preload = false;
        var publicServers = false;
        string? mix = null;
        double duration = 0, counterInterval = 1;
        var frame = 1000;
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            try
            {
                switch (a)
                {
                    case "--protocol":
                        var p = Next();
                        protocol = p.ToLowerInvariant() switch
                        {
                            "sflow" or "sflow5" => FlowProtocol.SFlow5,
                            "netflow5" or "v5" => FlowProtocol.NetFlow5,
                            "netflow9" or "v9" => FlowProtocol.NetFlow9,
                            "ipfix" => FlowProtocol.Ipfix,
                            _ => throw new ArgumentException($"--protocol {p}: expected sflow, netflow5, netflow9 or ipfix"),
                        };
                        break;
                    case "--count": count = Positive(a, Next()); break;
                    case "--target": target = Next(); break;
                    case "--pcap": pcap = Next(); break;
                    case "--rate": rate = Positive(a, Next()); break;
                    case "--seed": seed = (int)Math.Min(int.MaxValue, Positive(a, Next(), allowZero: true)); break;
                    case "--hosts": hosts = (int)Math.Clamp(Positive(a, Next()), 10, 10_000_000); break;
                    case "--sampling": sampling = (uint)Math.Min(uint.MaxValue, Positive(a, Next())); break;
                    case "--no-templates": templates = false; break;
                    case "--preload": preload = true; break;
                    case "--public-servers": publicServers = true; break;
                    case "--mix": mix = Next(); break;
                    case "--duration": duration = Positive(a, Next()); break;
                    case "--counter-interval": counterInterval = Positive(a, Next()); break;
                    case "--frame": frame = (int)Math.Clamp(Positive(a, Next()), 64, 9000); break;
                    case "--drop-every":
                        dropEvery = Positive(a, Next());
                        if (dropEvery < 2) throw new ArgumentException("--drop-every: at least 2");
                        break;
                    case "--start":
                        var t = Next();
                        if (!DateTimeOffset.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out start))
                            throw new ArgumentException($"--start {t}: expected an RFC 3339 time such as 2026-11-19T00:00:00Z");
                        // Export headers and capture records carry seconds since 1970 in 32 bits: a time outside would wrap.
                        if (start < DateTimeOffset.UnixEpoch || start > DateTimeOffset.FromUnixTimeSeconds(uint.MaxValue))
                            throw new ArgumentException($"--start {t}: export headers and captures carry seconds since 1970 in 32 bits; give a time from 1970-01-01T00:00:00Z to 2106-02-07T06:28:15Z");
                        break;
                    case "--quiet" or "-q": quiet = true; break;
                    default: throw new ArgumentException($"unknown option {a} (see `flowline gen --help`)");
                }
            }
            catch (ArgumentException e)
            {
                stderr.WriteLine($"flowline gen: {e.Message}");
                return 2;
            }
        }
        var problem = protocol == FlowProtocol.Unknown ? "--protocol is required (sflow, netflow5, netflow9 or ipfix)"
            : mix is not null && protocol == FlowProtocol.NetFlow5 ? "--mix sends sflow, netflow9 or ipfix"
            : mix is not null && (target is null || duration <= 0) ? "--mix needs --target udp://HOST:PORT and --duration SECONDS"
            : mix is null && count < 0 ? "--count is required"
            : mix is not null && count >= 0 ? "--mix sends for --duration SECONDS: --count does not apply"
            : (target is null) == (pcap is null) ? "give exactly one of --target udp://HOST:PORT and --pcap FILE"
            : protocol == FlowProtocol.NetFlow5 && sampling > 0x3FFF ? $"--sampling {sampling}: NetFlow v5's header carries at most 16383 (14 bits)"
            : null;
        IPEndPoint? endpoint = null;
        if (problem is null && target is not null)
        {
            try
            {
                endpoint = Ingest.CollectorOptions.ParseUdp(target, "--target");
            }
            catch (FormatException e)
            {
                problem = e.Message;
            }
        }
        if (problem is not null)
        {
            stderr.WriteLine($"flowline gen: {problem}");
            return 2;
        }

        if (mix is not null)
        {
            try
            {
                return RunMix(protocol, TalkerMix.Parse(mix), endpoint!, sampling, frame, seed, duration, counterInterval, quiet, stderr);
            }
            catch (FormatException e)
            {
                stderr.WriteLine($"flowline gen: --mix: {e.Message}");
                return 2;
            }
        }
        var traffic = new TrafficGenerator(seed, hosts, startMicros: start.ToUnixTimeMilliseconds() * 1000,
            flowsPerSecond: rate > 0 ? rate : 10_000, samplingRate: sampling) { PublicServers = publicServers };
        var generator = new DatagramGenerator(protocol, traffic) { SendTemplates = templates };
        var buffer = new byte[65536];
        var watch = Stopwatch.StartNew();
        var lastReport = 0L;
        long sentFlows = 0, sentDatagrams = 0;
        var exporterPort = (ushort)(protocol == FlowProtocol.SFlow5 ? 6343 : protocol == FlowProtocol.Ipfix ? 4739 : 2055);
        Socket? socket = null;
        Stream? file = null;
        PcapWriter? writer = null;
        try
        {
            if (endpoint is not null)
            {
                socket = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp) { SendBufferSize = 4 << 20 };
                socket.Connect(endpoint);
            }
            else
            {
                file = pcap == "-" ? Console.OpenStandardOutput() : File.Create(pcap!);
                file = new BufferedStream(file, 1 << 20);
                writer = new PcapWriter(file);
            }
            var source = FlowAddress.Parse("192.0.2.1");
            var collector = FlowAddress.Parse("192.0.2.2");
            void Emit(ReadOnlySpan<byte> datagram, int flows)
            {
                sentFlows += flows;
                sentDatagrams++;
                if (socket is not null)
                {
                    try
                    {
                        socket.Send(datagram);
                    }
                    catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
                    {
                        // Nothing listens yet (ICMP port unreachable): the datagram is lost, as on a real network.
                    }
                    if (rate > 0)
                    {
                        var ahead = sentFlows / rate - watch.Elapsed.TotalSeconds;
                        if (ahead > 0.002) Thread.Sleep(TimeSpan.FromSeconds(ahead));
                    }
                }
                else
                {
                    writer!.WriteUdp(start.ToUnixTimeMilliseconds() * 1000 + sentDatagrams * 100, source, 50000, collector, exporterPort, datagram);
                }
                if (!quiet && watch.ElapsedMilliseconds - lastReport >= 1000)
                {
                    lastReport = watch.ElapsedMilliseconds;
                    stderr.WriteLine($"flowline gen: {sentFlows:N0} of {count:N0} flows, {sentDatagrams:N0} datagrams, {sentFlows / watch.Elapsed.TotalSeconds:N0} flows/s");
                }
            }

            var preloaded = preload ? new PreloadedDatagrams() : null;
            while (generator.Flows < count)
            {
                var length = generator.Next(buffer, (int)Math.Min(int.MaxValue, count - generator.Flows), out var flowsInDatagram);
                if (dropEvery > 0 && generator.Datagrams % dropEvery == 0)
                {
                    droppedDatagrams++;
                    droppedFlows += flowsInDatagram;
                    continue;
                }
                if (preloaded is not null) preloaded.Add(buffer.AsSpan(0, length), flowsInDatagram);
                else Emit(buffer.AsSpan(0, length), flowsInDatagram);
            }
            if (preloaded is not null)
            {
                if (!quiet) stderr.WriteLine($"flowline gen: {generator.Datagrams:N0} datagrams encoded in {watch.Elapsed.TotalSeconds:0.0} s; sending");
                watch.Restart();
                lastReport = 0;
                foreach (var (datagram, flows) in preloaded) Emit(datagram.Span, flows);
            }
            file?.Flush();
        }
        catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"flowline gen: {e.Message}");
            return 1;
        }
        finally
        {
            socket?.Dispose();
            file?.Dispose();
        }
        if (dropEvery > 0)
        {
            stderr.WriteLine($"flowline gen: left out {droppedDatagrams} datagrams carrying {droppedFlows} flows");
        }
        if (!quiet)
        {
            stderr.WriteLine($"flowline gen: {sentFlows:N0} flows in {sentDatagrams:N0} {Name(protocol)} datagrams " +
                             $"({(endpoint is not null ? $"sent to udp://{endpoint}" : $"written to {pcap}")}) in {watch.Elapsed.TotalSeconds:0.000} s");
        }
        return 0;
    }

    /// <summary>
    /// Sends a talker mix in real time: samples when their time comes, a few to a datagram; sFlow with the
    /// interface counters, NetFlow v9 / IPFIX as one record a sampled frame (templates first and every 20 datagrams).
    /// </summary>
    private static int RunMix(FlowProtocol protocol, IReadOnlyList<Talker> talkers, IPEndPoint endpoint, uint sampling, int frame, int seed, double duration,
        double counterInterval, bool quiet, TextWriter stderr)
    {
        var epoch = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
        var start = Stopwatch.GetTimestamp();
        var mixer = new TalkerMix(talkers, sampling, frame, seed, startMicros: epoch);
        var sflow = protocol == FlowProtocol.SFlow5 ? new Flowline.Wire.Encoders.SFlowEncoder { Agent = FlowAddress.Parse("192.0.2.1"), HeaderBytes = 64 } : null;
        // IPFIX records carry fragmentation (template 261) when a talker sends fragments.
        var templates = sflow is null ? new Flowline.Wire.Encoders.TemplateFlowEncoder(protocol, 1)
            { SamplingRate = sampling, Fragments = talkers.Any(t => t.Kind == TalkerKind.Fragment) } : null;
        var perDatagram = sflow is not null ? (DatagramGenerator.MaxDatagram - 28) / sflow.MaxFlowSampleLength : (DatagramGenerator.MaxDatagram - 28 - 500) / 95;
        var pending = new List<FlowRecord>();
        var buffer = new byte[65536];
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp) { SendBufferSize = 4 << 20 };
        socket.Connect(endpoint);
        long samples = 0, datagrams = 0;
        uint counterSequence = 0;
        var nextCounters = 0.0;
        var next = mixer.Next();
        void Send(ReadOnlySpan<FlowRecord> flows, ReadOnlySpan<CounterRecord> counters)
        {
            var now = epoch + (long)(Stopwatch.GetElapsedTime(start).TotalSeconds * 1e6);
            var length = sflow is not null ? sflow.Encode(flows, counters, buffer)
                : templates!.EncodeData(flows, buffer, now, (uint)(Stopwatch.GetElapsedTime(start).TotalMilliseconds), includeTemplates: datagrams % 20 == 0);
            if (datagrams == 0 && !quiet) stderr.WriteLine($"flowline gen: first datagram at {DateTimeOffset.FromUnixTimeMilliseconds(now / 1000):yyyy-MM-ddTHH:mm:ss.fffZ}");
            try
            {
                socket.Send(buffer.AsSpan(0, length));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
            }
            datagrams++;
        }
        while (true)
        {
            var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (elapsed >= duration) break;
            if (sflow is not null) sflow.UptimeMs = (uint)(elapsed * 1000);
            while ((next.TimeReceived - epoch) / 1e6 <= elapsed)
            {
                pending.Add(next);
                samples++;
                next = mixer.Next();
                if (pending.Count == perDatagram)
                {
                    Send(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pending), []);
                    pending.Clear();
                }
            }
            if (pending.Count > 0)
            {
                Send(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pending), []);
                pending.Clear();
            }
            if (sflow is not null && elapsed >= nextCounters)
            {
                Send([], [mixer.Counters((long)(elapsed * 1e6) + epoch, ++counterSequence)]);
                nextCounters += counterInterval;
            }
            Thread.Sleep(1);
        }
        if (!quiet)
        {
            stderr.WriteLine($"flowline gen: {talkers.Count} talkers, {mixer.TotalRate:N0} bytes/s in all, sampled 1:{sampling}: {samples:N0} samples in {datagrams:N0} {Name(protocol)} datagrams to udp://{endpoint} in {duration:0.#} s");
        }
        return 0;
    }

    private static string Name(FlowProtocol p) => FlowProtocolNames.Name(p);

    private static long Positive(string option, string value, bool allowZero = false)
    {
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || (n == 0 && !allowZero))
        {
            throw new ArgumentException($"{option} {value}: expected a {(allowZero ? "non-negative" : "positive")} whole number");
        }
        return n;
    }
}
