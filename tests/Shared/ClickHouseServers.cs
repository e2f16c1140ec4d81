using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Flowline.Testing;

/// <summary>
/// Real clickhouse-server processes (Debian's package) on loopback ports, each from a private config in a
/// temporary directory: one server, or several forming the cluster "flowline" of one shard each (a
/// `remote_servers` entry naming every server's TCP port), as production runs shards behind a Distributed table.
/// </summary>
public sealed class ClickHouseServers : IDisposable
{
    public const string Cluster = "flowline";
    public static readonly string Binary = File.Exists("/usr/bin/clickhouse-server") ? "/usr/bin/clickhouse-server" : "/usr/sbin/clickhouse-server";

    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("flowline-clickhouse-");
    private readonly Server[] _servers;

    public sealed class Server
    {
        internal Process? Process;
        public required int HttpPort { get; init; }
        public required int TcpPort { get; init; }
        public required string Directory { get; init; }
        public Uri Url => new($"http://127.0.0.1:{HttpPort}/");
    }

    public ClickHouseServers(int count)
    {
        if (!File.Exists(Binary)) throw new InvalidOperationException("clickhouse-server is not installed: run scripts/setup.sh (it installs Debian's clickhouse-server)");
        _servers = [.. Enumerable.Range(0, count).Select(i => new Server
        {
            HttpPort = FreePort(), TcpPort = FreePort(), Directory = Path.Combine(_root.FullName, $"s{i}"),
        })];
        foreach (var s in _servers) WriteConfig(s);
        foreach (var s in _servers) Start(s);
    }

    public IReadOnlyList<Server> All => _servers;

    public Server this[int i] => _servers[i];

    /// <summary>The address `serve --store` takes for a database on these servers as one cluster.</summary>
    public string Location(string database) =>
        $"clickhouse://127.0.0.1:{_servers[0].HttpPort}/{database}?cluster={Cluster}&shards=" +
        string.Join(',', _servers.Select(s => $"127.0.0.1:{s.HttpPort}"));

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private void WriteConfig(Server s)
    {
        System.IO.Directory.CreateDirectory(s.Directory);
        var shards = string.Concat(_servers.Select(o => $"<shard><replica><host>127.0.0.1</host><port>{o.TcpPort}</port></replica></shard>"));
        File.WriteAllText(Path.Combine(s.Directory, "config.xml"), $"""
            <?xml version="1.0"?>
            <yandex>
              <logger><level>warning</level><log>{s.Directory}/server.log</log><errorlog>{s.Directory}/error.log</errorlog><console>0</console></logger>
              <http_port>{s.HttpPort}</http_port>
              <tcp_port>{s.TcpPort}</tcp_port>
              <listen_host>127.0.0.1</listen_host>
              <path>{s.Directory}/data/</path>
              <tmp_path>{s.Directory}/tmp/</tmp_path>
              <users_config>{s.Directory}/users.xml</users_config>
              <default_profile>default</default_profile>
              <default_database>default</default_database>
              <mark_cache_size>67108864</mark_cache_size>
              <max_concurrent_queries>100</max_concurrent_queries>
              <remote_servers><{Cluster}>{shards}</{Cluster}></remote_servers>
            </yandex>
            """);
        File.WriteAllText(Path.Combine(s.Directory, "users.xml"), """
            <?xml version="1.0"?>
            <yandex>
              <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
              <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
              <quotas><default></default></quotas>
            </yandex>
            """);
    }

    /// <summary>Starts a server (again, after <see cref="Stop"/>) and waits until it answers.</summary>
    public void Start(Server s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var info = new ProcessStartInfo(Binary, [$"--config-file={s.Directory}/config.xml"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = s.Directory,
        };
        s.Process = Process.Start(info)!;
        s.Process.OutputDataReceived += (_, _) => { };
        s.Process.ErrorDataReceived += (_, _) => { };
        s.Process.BeginOutputReadLine();
        s.Process.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if (http.GetStringAsync(new Uri(s.Url, "ping")).GetAwaiter().GetResult().Trim() == "Ok.") return;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            if (s.Process.HasExited || DateTime.UtcNow > deadline)
            {
                var log = Path.Combine(s.Directory, "error.log");
                throw new InvalidOperationException($"clickhouse-server on port {s.HttpPort} did not start: " +
                    (File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(5)) : "no error log"));
            }
            Thread.Sleep(100);
        }
    }

    /// <summary>Kills a server (SIGKILL: as a crash or a pulled cable would stop it).</summary>
    public static void Stop(Server s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.Process is not { HasExited: false } p) return;
        p.Kill(entireProcessTree: true);
        p.WaitForExit();
    }

    /// <summary>SIGSTOP: the server keeps its sockets and takes connections, and answers nothing (a hung host).</summary>
    public static void Pause(Server s) => Signal(s, "STOP");

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public static void Resume(Server s) => Signal(s, "CONT");

    private static void Signal(Server s, string signal)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.Process is not { HasExited: false } p) throw new InvalidOperationException($"clickhouse-server on port {s.HttpPort} is not running");
        using var kill = Process.Start("kill", [$"-{signal}", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{signal} {p.Id} failed");
    }

    public void Dispose()
    {
        foreach (var s in _servers) Stop(s);
        try
        {
            _root.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A 2-shard cluster for the tests of a class, started on first use (not at all when no test of the class asks for it).</summary>
public sealed class ClickHouseClusterFixture : IDisposable
{
    private readonly Lazy<ClickHouseServers> _servers = new(() => new ClickHouseServers(2));

    public ClickHouseServers Servers => _servers.Value;

    /// <summary>The address `serve --store` takes for a database on this cluster.</summary>
    public string Location(string database) => Servers.Location(database);

    public void Dispose()
    {
        if (_servers.IsValueCreated) _servers.Value.Dispose();
    }
}
