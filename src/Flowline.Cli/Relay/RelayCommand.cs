using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Flowline.Ingest;
using Flowline.Records;

namespace Flowline.Cli.Relay;

/// <summary>
/// `flowline relay`: UDP datagrams to hex lines on standard output (--out), or hex lines on standard input
/// to UDP datagrams (--to), so that a stream of sFlow can cross an ssh connection (seed 003's sflow_fwd.py,
/// whose lines it reads and writes).
/// </summary>
internal static class RelayCommand
{
    public const string Help = """
        Usage: flowline relay --out [--listen ADDR:PORT]
               flowline relay --to HOST:PORT

        Carries UDP datagrams (sFlow, NetFlow, IPFIX) through a pipe as lines of hexadecimal, one datagram
        per line, the format of sflow_fwd.py; with ssh that is an encrypted tunnel:

          flowline relay --out | ssh analyzer 'flowline relay --to 127.0.0.1:6343'
          ssh collector 'flowline relay --out' | flowline relay --to 127.0.0.1:6343

        Options:
          --out               receive datagrams and write each as a line on standard output
          --listen ADDR:PORT  where --out receives (default 0.0.0.0:6343; :PORT for IPv4 and IPv6)
          --to HOST:PORT      read lines from standard input and send each as a datagram to HOST:PORT
          --receive-buffer N  the socket receive buffer of --out (default 8m)

        --out stops on SIGINT or SIGTERM, or when its reader goes away; --to stops at the end of its
        input. A line that is not an even number of hex digits (or longer than a datagram) is skipped and
        counted; both print what they carried on standard error when they stop. The receiving side sees
        the datagrams coming from the relay's address: sFlow names its agent inside the datagram, NetFlow
        and IPFIX exporters are then known by the relay's address.
        """;

    public static int Run(string[] args, TextWriter stderr)
    {
        if (args.Length == 0 || args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(Console.Out, Help);
            return args.Length == 0 ? 2 : 0;
        }
        var output = false;
        string? to = null;
        var listen = "0.0.0.0:6343";
        long receiveBuffer = 8 << 20;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                var a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{a} needs a value");
                switch (a)
                {
                    case "--out": output = true; break;
                    case "--listen": listen = Next(); break;
                    case "--to": to = Next(); break;
                    case "--receive-buffer": receiveBuffer = CollectorOptions.Size(Next()); break;
                    default: throw new FormatException($"unknown option {a} (see `flowline relay --help`)");
                }
            }
            if (output == (to is not null)) throw new FormatException("give either --out or --to HOST:PORT");
            if (output) return Out(CollectorOptions.ParseEndpoint(listen, "--listen"), (int)Math.Min(int.MaxValue, receiveBuffer), stderr);
            return To(Target(to!), stderr);
        }
        catch (FormatException e)
        {
            stderr.WriteLine($"flowline relay: {e.Message}");
            return 2;
        }
    }

    /// <summary>HOST:PORT or [V6]:PORT; a host name is looked up once.</summary>
    private static IPEndPoint Target(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !ushort.TryParse(text.AsSpan(colon + 1), out var port) || port == 0) throw new FormatException($"--to {text}: expected HOST:PORT");
        var host = text[..colon].Trim('[', ']');
        if (IPAddress.TryParse(host, out var address)) return new IPEndPoint(address, port);
        try
        {
            return new IPEndPoint(Dns.GetHostAddresses(host).First(), port);
        }
        catch (Exception e) when (e is SocketException or InvalidOperationException)
        {
            throw new FormatException($"--to {text}: cannot resolve {host}");
        }
    }

    private static int Out(IPEndPoint endpoint, int receiveBuffer, TextWriter stderr)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (endpoint.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = true;
        try
        {
            socket.ReceiveBufferSize = receiveBuffer;
            socket.Bind(endpoint);
        }
        catch (SocketException e)
        {
            stderr.WriteLine($"flowline relay: cannot listen on udp {endpoint}: {e.Message}");
            return 1;
        }
        stderr.WriteLine($"flowline relay: datagrams on udp {socket.LocalEndPoint} to standard output as hex lines");
        var stop = new CancellationTokenSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); socket.Close(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); socket.Close(); });
        using var stdout = Console.OpenStandardOutput();
        var buffer = new byte[65536];
        var line = new byte[2 * 65536 + 1];
        var pending = new MemoryStream(1 << 16);
        long datagrams = 0, bytes = 0;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var n = socket.Receive(buffer);
                var written = Hex(buffer.AsSpan(0, n), line);
                line[written] = (byte)'\n';
                pending.Write(line, 0, written + 1);
                datagrams++;
                bytes += n;
                // Lines leave in one write per burst: at once when nothing else is waiting.
                if (socket.Available == 0 || pending.Length >= 1 << 16)
                {
                    stdout.Write(pending.GetBuffer(), 0, (int)pending.Length);
                    stdout.Flush();
                    pending.SetLength(0);
                }
            }
        }
        catch (SocketException) when (stop.IsCancellationRequested)
        {
        }
        catch (ObjectDisposedException) when (stop.IsCancellationRequested)
        {
        }
        catch (IOException e)
        {
            stderr.WriteLine($"flowline relay: standard output closed ({e.Message}); stopping");
        }
        if (pending.Length > 0)
        {
            try
            {
                stdout.Write(pending.GetBuffer(), 0, (int)pending.Length);
            }
            catch (IOException)
            {
                // the reader is gone
            }
        }
        stderr.WriteLine($"flowline relay: {datagrams} datagrams ({bytes} bytes) written");
        return 0;
    }

    private static int Hex(ReadOnlySpan<byte> data, Span<byte> into)
    {
        const string digits = "0123456789abcdef";
        for (var i = 0; i < data.Length; i++)
        {
            into[2 * i] = (byte)digits[data[i] >> 4];
            into[2 * i + 1] = (byte)digits[data[i] & 15];
        }
        return 2 * data.Length;
    }

    private static int To(IPEndPoint target, TextWriter stderr)
    {
        using var socket = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(target);
        stderr.WriteLine($"flowline relay: hex lines from standard input to udp {target}");
        using var stdin = new StreamReader(Console.OpenStandardInput(), Encoding.ASCII, false, 1 << 16);
        var datagram = new byte[65536];
        long sent = 0, bytes = 0, bad = 0, failed = 0, number = 0;
        while (stdin.ReadLine() is { } text)
        {
            number++;
            var line = text.AsSpan().Trim();
            if (line.Length == 0) continue;
            if (line.Length % 2 != 0 || line.Length / 2 > 65507 || Convert.FromHexString(line, datagram, out _, out var n) != System.Buffers.OperationStatus.Done)
            {
                if (bad++ < 10) stderr.WriteLine($"flowline relay: line {number}: not a datagram in hex ({Math.Min(line.Length, 40)} of {line.Length} characters: '{line[..Math.Min(line.Length, 40)]}'); skipped");
                continue;
            }
            try
            {
                socket.Send(datagram.AsSpan(0, n));
                sent++;
                bytes += n;
            }
            catch (SocketException e)
            {
                // An ICMP port unreachable from an earlier datagram: the receiver is not up (yet); go on.
                if (failed++ < 10) stderr.WriteLine($"flowline relay: line {number}: {e.Message}");
            }
        }
        stderr.WriteLine($"flowline relay: {sent} datagrams ({bytes} bytes) sent, {bad} lines skipped, {failed} sends failed");
        return 0;
    }
}
