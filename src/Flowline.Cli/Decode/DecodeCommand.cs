using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Flowline.Wire;
using Flowline.Wire.Capture;
using Flowline.Records;

namespace Flowline.Cli.Decode;

/// <summary>`flowline decode`: sflowtool for sFlow, NetFlow v5/v9 and IPFIX.</summary>
internal static class DecodeCommand
{
    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.Out.Write(DecodeOptions.Help);
            return 0;
        }
        var error = DecodeOptions.TryParse(args, out var options);
        if (error is not null)
        {
            stderr.WriteLine($"flowline decode: {error}");
            return 2;
        }

        // Check every capture before any output is written, so that a typo costs nothing but a message.
        foreach (var path in options.Pcaps)
        {
            try
            {
                CaptureReader.Open(path).Dispose();
            }
            catch (CaptureFormatException e)
            {
                stderr.WriteLine($"flowline decode: {e.Message}");
                return 1;
            }
        }

        Stream output;
        try
        {
            output = options.Output == "-" ? Console.OpenStandardOutput() : File.Create(options.Output);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"flowline decode: cannot write {options.Output}: {e.Message}");
            return 1;
        }
        using var _ = output;
        var buffered = new BufferedStream(output, 1 << 16);
        var collector = new DatagramCollector();
        IDecodeOutput writer = options.Format switch
        {
            DecodeFormat.Flows or DecodeFormat.Csv => new CsvOutput(buffered, options.Fields!, options.Header),
            DecodeFormat.Grep => new GrepOutput(buffered),
            DecodeFormat.Json => new JsonOutput(buffered, indented: true),
            DecodeFormat.Jsonl => new JsonOutput(buffered, indented: false),
            _ => new PcapOutput(buffered),
        };
        if (options.Format == DecodeFormat.Pcap)
        {
            collector.Pcap = new PcapFrameWriter(buffered);
        }

        var decoder = new FlowDecoder();
        var run = new DecodeRun(decoder, collector, writer, options.Count);
        var exit = 0;
        var watch = Stopwatch.StartNew();
        CaptureStats? captureStats = null;
        try
        {
            if (options.Pcaps.Count > 0)
            {
                captureStats = new CaptureStats();
                foreach (var path in options.Pcaps)
                {
                    if (!run.FromCapture(path, captureStats, stderr))
                    {
                        exit = 1;
                        break;
                    }
                    if (run.Done) break;
                }
            }
            else
            {
                exit = run.FromSockets(options.Listen, options.Seconds, options.ReceiveBuffer, stderr);
            }
            writer.Finish();
            buffered.Flush();
        }
        catch (IOException e) when (IsBrokenPipe(e))
        {
            // The reader went away (e.g. `| head`): stop quietly.
        }
        if (!options.Quiet)
        {
            var pending = decoder.Templates.PendingSets;
            stderr.WriteLine($"flowline decode: {decoder.Stats.Summary()}" +
                             (pending > 0 ? $"; {pending} data sets never got their template" : "") +
                             (collector.Pcap is { } p ? $"; pcap frames written {p.Frames}" : "") +
                             $"; {watch.Elapsed.TotalSeconds:0.000} s");
            if (captureStats is not null)
            {
                stderr.WriteLine($"flowline decode: capture: {captureStats.Summary()}");
            }
        }
        return exit;
    }

    private static bool IsBrokenPipe(IOException e) => e.HResult == 32 || e.Message.Contains("pipe", StringComparison.OrdinalIgnoreCase);

    /// <summary>The decode loop shared by capture and socket input.</summary>
    private sealed class DecodeRun(FlowDecoder decoder, DatagramCollector collector, IDecodeOutput writer, long limit)
    {
        private long _count;

        public bool Done => _count >= limit;

        public void Decode(ReadOnlySpan<byte> datagram, FlowAddress source, long timeReceived)
        {
            collector.Reset(source, timeReceived);
            var result = decoder.Decode(datagram, source, timeReceived, ref collector);
            writer.Write(collector, result, datagram);
            _count++;
        }

        public bool FromCapture(string path, CaptureStats total, TextWriter stderr)
        {
            CaptureReader reader;
            try
            {
                reader = CaptureReader.Open(path);
            }
            catch (CaptureFormatException e)
            {
                stderr.WriteLine($"flowline decode: {e.Message}");
                return false;
            }
            using (reader)
            {
                try
                {
                    while (!Done && reader.TryRead(out var d))
                    {
                        Decode(d.Payload, d.Src, d.Timestamp);
                    }
                }
                catch (CaptureFormatException e)
                {
                    stderr.WriteLine($"flowline decode: {path}: {e.Message}");
                    return false;
                }
                finally
                {
                    total.Add(reader.Stats);
                }
            }
            return true;
        }

        private readonly record struct Received(byte[] Buffer, int Length, FlowAddress Source, long Time);

        public int FromSockets(List<IPEndPoint> endpoints, double seconds, int receiveBuffer, TextWriter stderr)
        {
            using var cts = new CancellationTokenSource();
            if (!double.IsPositiveInfinity(seconds)) cts.CancelAfter(TimeSpan.FromSeconds(seconds));
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true;
                cts.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            var channel = Channel.CreateBounded<Received>(new BoundedChannelOptions(8192)
            {
                FullMode = BoundedChannelFullMode.DropWrite,
                SingleReader = true,
            });
            var sockets = new List<Socket>();
            long queueDrops = 0;
            try
            {
                foreach (var ep in endpoints)
                {
                    var socket = new Socket(ep.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                    try
                    {
                        socket.ReceiveBufferSize = receiveBuffer;
                        if (ep.AddressFamily == AddressFamily.InterNetworkV6 && ep.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
                        socket.Bind(ep);
                    }
                    catch (SocketException e)
                    {
                        socket.Dispose();
                        stderr.WriteLine($"flowline decode: cannot listen on udp://{ep}: {e.Message}");
                        return 1;
                    }
                    sockets.Add(socket);
                    stderr.WriteLine($"flowline decode: listening on udp://{socket.LocalEndPoint}");
                }
                var receivers = sockets.Select(s => Task.Run(async () =>
                {
                    var any = s.AddressFamily == AddressFamily.InterNetworkV6 ? (EndPoint)new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
                    while (!cts.IsCancellationRequested)
                    {
                        var buffer = ArrayPool<byte>.Shared.Rent(65536);
                        SocketReceiveFromResult r;
                        try
                        {
                            r = await s.ReceiveFromAsync(buffer, SocketFlags.None, any, cts.Token).ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                        {
                            ArrayPool<byte>.Shared.Return(buffer);
                            break;
                        }
                        var from = ((IPEndPoint)r.RemoteEndPoint).Address;
                        if (from.IsIPv4MappedToIPv6) from = from.MapToIPv4();
                        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
                        if (!channel.Writer.TryWrite(new Received(buffer, r.ReceivedBytes, FlowAddress.FromIPAddress(from), now)))
                        {
                            Interlocked.Increment(ref queueDrops);
                            ArrayPool<byte>.Shared.Return(buffer);
                        }
                    }
                })).ToArray();

                try
                {
                    while (!Done)
                    {
                        var next = channel.Reader.ReadAsync(cts.Token).AsTask().GetAwaiter().GetResult();
                        try
                        {
                            Decode(next.Buffer.AsSpan(0, next.Length), next.Source, next.Time);
                        }
                        finally
                        {
                            ArrayPool<byte>.Shared.Return(next.Buffer);
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                }
                cts.Cancel();
                foreach (var s in sockets) s.Dispose();
                Task.WaitAll(receivers, TimeSpan.FromSeconds(2));
                if (queueDrops > 0) stderr.WriteLine($"flowline decode: {queueDrops} datagrams dropped: output could not keep up");
                return 0;
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
                foreach (var s in sockets) s.Dispose();
            }
        }
    }
}
