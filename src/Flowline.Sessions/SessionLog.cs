using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Flowline.Records;

namespace Flowline.Sessions;

/// <summary>A session row as one JSON object (no line break), names for symbol ids: the line of logs, syslog and `/api/v1/sessions`.</summary>
public static class SessionLine
{
    public static void Write(Utf8JsonWriter w, in FlowRecord r, ISymbolNames names)
    {
        void Name(string key, uint id)
        {
            if (id != 0) w.WriteString(key, names.Name(id) ?? id.ToString(CultureInfo.InvariantCulture));
        }
        var (forward, reverse) = SessionRows.FlowIds(r);
        w.WriteStartObject();
        w.WriteString("time", Time(r.Start));
        w.WriteString("session_type", SessionFlags.Side(r.SessionFlags));
        w.WriteBoolean("sampled", (r.SessionFlags & SessionFlags.Sampled) != 0);
        w.WriteBoolean("logged", (r.SessionFlags & SessionFlags.Logged) != 0);
        w.WriteBoolean("is_service_instance", (r.SessionFlags & SessionFlags.ServiceInstance) != 0);
        Name("account", r.Account);
        Name("vmi", r.Vmi);
        w.WriteString("vrouter_ip", r.Exporter.ToString());
        w.WriteNumber("protocol", r.IpProto);
        w.WriteString("client_ip", r.SrcAddr.ToString());
        w.WriteNumber("client_port", r.SrcPort);
        w.WriteString("server_ip", r.DstAddr.ToString());
        w.WriteNumber("server_port", r.DstPort);
        Name("client_vn", r.SrcVn);
        Name("server_vn", r.DstVn);
        Name("application", r.App);
        Name("tier", r.Tier);
        Name("site", r.Site);
        Name("deployment", r.Deployment);
        Name("remote_application", r.RemoteApp);
        Name("remote_tier", r.RemoteTier);
        Name("remote_site", r.RemoteSite);
        Name("remote_deployment", r.RemoteDeployment);
        Name("remote_prefix", r.RemotePrefix);
        Name("security_policy_rule", r.SgRule);
        Name("reverse_sg_rule", r.RevSgRule);
        w.WriteString("forward_action", FlowAction.Name(r.Action));
        w.WriteString("reverse_action", FlowAction.Name(r.RevAction));
        w.WriteNumber("forward_sampled_bytes", r.Bytes);
        w.WriteNumber("forward_sampled_pkts", r.Packets);
        w.WriteNumber("reverse_sampled_bytes", r.RevBytes);
        w.WriteNumber("reverse_sampled_pkts", r.RevPackets);
        w.WriteNumber("forward_logged_bytes", r.LoggedBytes);
        w.WriteNumber("forward_logged_pkts", r.LoggedPackets);
        w.WriteNumber("reverse_logged_bytes", r.LoggedRevBytes);
        w.WriteNumber("reverse_logged_pkts", r.LoggedRevPackets);
        w.WriteNumber("forward_tcp_flags", r.TcpFlags);
        w.WriteNumber("reverse_tcp_flags", r.RevTcpFlags);
        w.WriteString("setup_time", Time(r.SetupTime));
        if (r.TeardownTime != 0) w.WriteString("teardown_time", Time(r.TeardownTime));
        w.WriteString("forward_flow_uuid", forward);
        w.WriteString("reverse_flow_uuid", reverse);
        w.WriteEndObject();
    }

    /// <summary>µs since the epoch as the lines write it: RFC 3339, UTC, microseconds.</summary>
    public static string Time(long micros) => DateTime.UnixEpoch.AddTicks(micros * 10).ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture);

    public static string Text(in FlowRecord r, ISymbolNames names)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, ReadableJson.Compact)) Write(w, r, names);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}

/// <summary>Where session lines go: a file of JSON lines or a syslog receiver.</summary>
public interface ISessionLineSink : IDisposable
{
    string Describe { get; }

    /// <summary>Writes the lines; throws <see cref="IOException"/> (or a <see cref="SocketException"/>) when the destination fails.</summary>
    void Write(IReadOnlyList<string> lines);
}

/// <summary>JSON lines appended to a file, flushed after every batch; past <c>maxBytes</c> the file is renamed to .1 (.1 to .2, …, keeping <c>keep</c>).</summary>
public sealed class SessionLogFile(string path, long maxBytes = 100 << 20, int keep = 5) : ISessionLineSink
{
    private FileStream? _file;

    public string Describe => $"file {path}";

    public void Write(IReadOnlyList<string> lines)
    {
        if (lines.Count == 0) return;
        _file ??= Open();
        if (_file.Length >= maxBytes) Rotate();
        var bytes = Encoding.UTF8.GetBytes(string.Concat(lines.Select(l => l + "\n")));
        _file!.Write(bytes);
        _file.Flush(flushToDisk: true);
    }

    private FileStream Open()
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        return new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
    }

    private void Rotate()
    {
        _file?.Dispose();
        _file = null;
        for (var i = keep - 1; i >= 1; i--)
        {
            var from = $"{path}.{i}";
            if (File.Exists(from)) File.Move(from, $"{path}.{i + 1}", overwrite: true);
        }
        if (keep >= 1) File.Move(path, $"{path}.1", overwrite: true);
        else File.Delete(path);
        _file = Open();
    }

    public void Dispose() => _file?.Dispose();
}

/// <summary>
/// RFC 5424 syslog: each line is one message, <c>&lt;PRI&gt;1 TIMESTAMP HOST flowline PID MSGID - JSON</c>, facility
/// local0, severity info; over UDP one datagram each, over TCP octet-counted (RFC 6587), reconnecting after a failure.
/// </summary>
public sealed class SyslogSender : ISessionLineSink
{
    private const int Priority = 16 * 8 + 6;
    private readonly string _host;
    private readonly int _port;
    private readonly bool _tcp;
    private readonly string _hostname = Environment.MachineName;
    private readonly string _messageId;
    private Socket? _socket;

    /// <param name="messageId">The MSGID of every message: session, or anomaly for session rate events.</param>
    public SyslogSender(string host, int port, bool tcp, string messageId = "session")
    {
        (_host, _port, _tcp, _messageId) = (host, port, tcp, messageId);
    }

    /// <summary>"udp://HOST:PORT" or "tcp://HOST:PORT" (port 514 when left out).</summary>
    public static SyslogSender Parse(string text, string messageId = "session")
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("udp" or "tcp") || uri.Host.Length == 0)
        {
            throw new FormatException($"'{text}': expected udp://HOST:PORT or tcp://HOST:PORT");
        }
        return new SyslogSender(uri.Host.Trim('[', ']'), uri.IsDefaultPort || uri.Port < 0 ? 514 : uri.Port, uri.Scheme == "tcp", messageId);
    }

    public string Describe => $"syslog {(_tcp ? "tcp" : "udp")}://{_host}:{_port}";

    public static string Message(string line, DateTime now, string hostname, string messageId = "session") =>
        $"<{Priority}>1 {now.ToUniversalTime():yyyy-MM-ddTHH:mm:ss.ffffffZ} {hostname} flowline {Environment.ProcessId} {messageId} - {line}";

    public void Write(IReadOnlyList<string> lines)
    {
        if (lines.Count == 0) return;
        try
        {
            _socket ??= Connect();
            var now = DateTime.UtcNow;
            foreach (var line in lines)
            {
                var message = Encoding.UTF8.GetBytes(Message(line, now, _hostname, _messageId));
                if (_tcp)
                {
                    var framed = Encoding.ASCII.GetBytes($"{message.Length} ").Concat(message).ToArray();
                    _socket.Send(framed);
                }
                else
                {
                    _socket.Send(message);
                }
            }
        }
        catch
        {
            _socket?.Dispose();
            _socket = null;
            throw;
        }
    }

    private Socket Connect()
    {
        var address = System.Net.Dns.GetHostAddresses(_host).FirstOrDefault() ?? throw new SocketException((int)SocketError.HostNotFound);
        var socket = new Socket(address.AddressFamily, _tcp ? SocketType.Stream : SocketType.Dgram, _tcp ? ProtocolType.Tcp : ProtocolType.Udp);
        try
        {
            socket.Connect(address, _port);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose() => _socket?.Dispose();
}
