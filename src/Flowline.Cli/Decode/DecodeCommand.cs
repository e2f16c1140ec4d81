using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Flowline.Ingest;
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
            HelpText.Print(Console.Out, DecodeOptions.Help);
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
            // Not locked against other writers (File.Create's FileShare.None): two decodes to /dev/null, or to one
            // pipe or device, are as fine as two shells redirecting there.
            output = options.Output == "-" ? new StandardOutputFile() : new FileStream(options.Output, FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"flowline decode: cannot write {options.Output}: {e.Message}");
            return 1;
        }
        using var _ = output;
        // From captures, the output is written on a second thread while the next rows are decoded and formatted;
        // live from sockets, rows go out in small buffers.
        Stream buffered = options.Pcaps.Count > 0 ? new WriteBehindStream(output) : new BufferedStream(output, 1 << 16);
        var collector = new DatagramCollector();
        var writer = Writer(options, buffered, collector);

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
                    var cutBefore = captureStats.CutShort;
                    if (!run.FromCapture(path, captureStats, stderr))
                    {
                        exit = 1;
                        break;
                    }
                    if (captureStats.CutShort > cutBefore)
                    {
                        // As tcpdump and tshark do: everything before the cut is out, and the exit status says the input was not whole.
                        stderr.WriteLine($"flowline decode: {path} ends inside a packet (the capture was cut short); the packets before it were decoded");
                        exit = 1;
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
        catch (IOException e) when (Program.IsBrokenPipe(e))
        {
            // The reader went away (e.g. `| head`): stop quietly.
        }
        catch (IOException e)
        {
            stderr.WriteLine($"flowline decode: cannot write {(options.Output == "-" ? "the output" : options.Output)}: {e.Message}");
            exit = 1;
        }
        finally
        {
            try
            {
                buffered.Dispose();
            }
            catch (IOException)
            {
                // Already reported, or the reader went away.
            }
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

    /// <summary>The writer of the chosen format (the pcap format writes frames through the collector).</summary>
    internal static IDecodeOutput Writer(DecodeOptions options, Stream buffered, DatagramCollector collector)
    {
        if (options.Format == DecodeFormat.Pcap) collector.Pcap = new PcapFrameWriter(buffered);
        return options.Format switch
        {
            DecodeFormat.Flows or DecodeFormat.Csv => new CsvOutput(buffered, options.Fields!, options.Header),
            DecodeFormat.Grep => new GrepOutput(buffered),
            DecodeFormat.Json => new JsonOutput(buffered, indented: true),
            DecodeFormat.Jsonl => new JsonOutput(buffered, indented: false),
            _ => new PcapOutput(buffered),
        };
    }

    /// <summary>Decodes one datagram and writes it in the writer's format.</summary>
    internal static DecodeResult DecodeDatagram(FlowDecoder decoder, DatagramCollector collector, IDecodeOutput writer,
        ReadOnlySpan<byte> datagram, FlowAddress source, long timeReceived)
    {
        collector.Reset(source, timeReceived);
        DecodeResult result;
        if (writer is CsvOutput csv)
        {
            // CSV rows need nothing of the rest of their datagram: written as they come, nothing is collected.
            var rows = new CsvRowSink(collector, csv);
            result = decoder.Decode(datagram, source, timeReceived, ref rows);
        }
        else
        {
            var sink = new CollectorSink(collector);
            result = decoder.Decode(datagram, source, timeReceived, ref sink);
        }
        writer.Write(collector, result, datagram);
        return result;
    }

    /// <summary>The decode loop shared by capture and socket input.</summary>
    private sealed class DecodeRun(FlowDecoder decoder, DatagramCollector collector, IDecodeOutput writer, long limit)
    {
        private long _count;

        public bool Done => _count >= limit;

        public void Decode(ReadOnlySpan<byte> datagram, FlowAddress source, long timeReceived)
        {
            DecodeDatagram(decoder, collector, writer, datagram, source, timeReceived);
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
                    while (!Done)
                    {
                        // A read error is the capture's, told apart from a write error (which the caller reports).
                        CapturedDatagram d;
                        try
                        {
                            if (!reader.TryRead(out d)) break;
                        }
                        catch (IOException e)
                        {
                            stderr.WriteLine($"flowline decode: cannot read {path}: {e.Message}");
                            return false;
                        }
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
            var receivers = new List<DatagramReceiver>();
            try
            {
                foreach (var ep in endpoints)
                {
                    try
                    {
                        receivers.Add(new DatagramReceiver(ep, receiveBuffer, queueBytes: 32 << 20, queueDatagrams: 65_536, name: $"recv {ep}"));
                    }
                    catch (SocketException e)
                    {
                        stderr.WriteLine($"flowline decode: cannot listen on udp://{ep}: {e.Message}");
                        return 1;
                    }
                    stderr.WriteLine($"flowline decode: listening on udp://{receivers[^1].LocalEndPoint}");
                }
                foreach (var r in receivers) r.Start();
                // One decoder takes from every receiver in turn, sleeping briefly when all are empty.
                while (!Done && !cts.IsCancellationRequested)
                {
                    var any = false;
                    foreach (var r in receivers)
                    {
                        while (!Done && r.TryTake(out var entry, out var data))
                        {
                            any = true;
                            try
                            {
                                Decode(data.Span, entry.Exporter, entry.TimeReceived);
                            }
                            finally
                            {
                                r.Release(entry);
                            }
                        }
                    }
                    if (!any) receivers[0].Wait(TimeSpan.FromMilliseconds(receivers.Count == 1 ? 200 : 5));
                }
                foreach (var r in receivers) r.Stop();
                var queueDrops = receivers.Sum(r => r.QueueDrops);
                if (queueDrops > 0) stderr.WriteLine($"flowline decode: {queueDrops} datagrams dropped: output could not keep up");
                return 0;
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
                foreach (var r in receivers) r.Dispose();
            }
        }
    }
}
