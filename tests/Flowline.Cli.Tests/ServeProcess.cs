using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Flowline.Cli.Tests;

/// <summary>A running `flowline serve` on loopback, with the ports it printed (0 = any free port).</summary>
public sealed partial class ServeProcess : IDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    public ServeProcess(string dataDir, params string[] extra)
        : this(http => FlowlineProcess.StartInfo(FlowlineProcess.Tool("env"), ["--default-signal=HUP", "dotnet", "exec", FlowlineProcess.Dll, .. Arguments(dataDir, http, extra)]),
            ApiNode(extra) ? 0 : 3)
    {
    }

    /// <summary>An API node (--collect false) opens no flow listeners.</summary>
    private static bool ApiNode(string[] extra) => extra.Contains("--collect") && extra[Array.IndexOf(extra, "--collect") + 1] == "false";

    /// <summary>serve's arguments on loopback with any free UDP port and <paramref name="http"/>, then <paramref name="extra"/>.</summary>
    public static string[] Arguments(string dataDir, int http, params string[] extra) =>
    [
        // SIGHUP back to its default (by the caller's env): a suite started under nohup would hand its children an
        // ignored SIGHUP, which the runtime keeps ignored, and serve re-reads its inventory on SIGHUP.
        "serve", "--data-dir", dataDir, "--sflow", "127.0.0.1:0", "--netflow", "127.0.0.1:0", "--ipfix", "127.0.0.1:0", "--http", $"127.0.0.1:{http}",
        // `flowline gen` dates its flows 2026-11-19 by default: older than serve's 15 days of retention
        // after 2026-12-04, so tests keep them unless they test retention.
        .. (extra.Contains("--retention") ? Array.Empty<string>() : ["--retention", "3650d"]), .. extra,
    ];

    /// <summary>A serve started by <paramref name="start"/>, given the free HTTP port to use (another build of serve, e.g. the packaged one).</summary>
    /// <param name="listeners">The flow listeners whose ports to wait for (0 for an API node).</param>
    public ServeProcess(Func<int, ProcessStartInfo> start, int listeners = 3)
    {
        var http = FreeTcpPort();
        _process = Process.Start(start(http))!;
        _process.StandardInput.Close();
        _process.OutputDataReceived += (_, e) => { lock (_stdout) _stdout.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        // The start's events (the listeners' ports, the HTTP address) are log lines on stderr.
        var ports = new Dictionary<string, int>();
        while (ports.Count < listeners || !Errors.Contains("http on", StringComparison.Ordinal))
        {
            var line = _process.StandardError.ReadLine() ?? throw new InvalidOperationException($"serve exited: {Output} {Errors}");
            lock (_stderr) _stderr.AppendLine(line);
            var m = Listener().Match(line);
            if (m.Success) ports[m.Groups[1].Value] = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        }
        Ports = ports;
        Url = $"http://127.0.0.1:{http}";
        _ = Task.Run(() =>
        {
            while (_process.StandardError.ReadLine() is { } line)
            {
                lock (_stderr) _stderr.AppendLine(line);
            }
        });
    }

    public IReadOnlyDictionary<string, int> Ports { get; }

    /// <summary>Resident memory now and at its peak (VmRSS, VmHWM of /proc/PID/status), in bytes.</summary>
    public (long Now, long Peak) Resident()
    {
        long Field(string name) => long.Parse(File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith(name + ":", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return (Field("VmRSS"), Field("VmHWM"));
    }
    public string Url { get; }
    public string Output { get { lock (_stdout) return _stdout.ToString(); } }
    public string Errors { get { lock (_stderr) return _stderr.ToString(); } }

    public string Get(string path) => Http.GetStringAsync($"{Url}{path}").GetAwaiter().GetResult();

    /// <summary>Records decoded from the exporters of that protocol so far; 0 before the first datagram.</summary>
    public long Records(string protocol) =>
        JsonDocument.Parse(Get("/api/v1/exporters")).RootElement.GetProperty("exporters").EnumerateArray()
            .Where(e => e.GetProperty("protocol").GetString() == protocol).Sum(e => e.GetProperty("records").GetInt64());

    public JsonElement Exporter(string protocol) =>
        JsonDocument.Parse(Get("/api/v1/exporters")).RootElement.GetProperty("exporters")
            .EnumerateArray().Single(e => e.GetProperty("protocol").GetString() == protocol);

    /// <summary>Sends SIGHUP (re-read the inventory).</summary>
    public void Hangup() => Process.Start("kill", ["-HUP", _process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();

    /// <summary>SIGTERM, then the exit code (the process must end within 10 s).</summary>
    public int Terminate()
    {
        Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
        // A generous bound: an orderly stop drains, stores and saves in well under it; only a hang reaches it.
        Assert.True(_process.WaitForExit(60_000), "serve did not exit within 60 s of SIGTERM");
        _process.WaitForExit();
        return _process.ExitCode;
    }

    private bool _disposed;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        // Killed and gone, its store lock released: a test goes on to open the same store (SIGKILL only asks).
        if (!_process.HasExited) FlowlineProcess.KillAll(_process);
        _process.Dispose();
    }

    /// <summary>
    /// Polls until the condition holds. The deadline only turns "never happened" into a failure with a
    /// message; it is generous enough that a slow machine does not decide the outcome.
    /// </summary>
    public static void WaitFor(Func<bool> condition, string what, int seconds = 20)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(seconds)) throw new TimeoutException(what);
            Thread.Sleep(100);
        }
    }

    /// <summary>Whether some process has a UDP socket bound to <paramref name="port"/> (the kernel's tables, IPv4 and IPv6).</summary>
    public static bool UdpBound(int port)
    {
        var hex = ":" + port.ToString("X4", CultureInfo.InvariantCulture) + " ";
        return new[] { "/proc/net/udp", "/proc/net/udp6" }.Where(File.Exists)
            .Any(f => File.ReadLines(f).Skip(1).Any(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [_, var local, ..] && (local + " ").EndsWith(hex, StringComparison.Ordinal)));
    }

    public static int FreeTcpPort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    [GeneratedRegex(@"(sflow|netflow|ipfix) on udp 127\.0\.0\.1:(\d+)")]
    private static partial Regex Listener();
}
