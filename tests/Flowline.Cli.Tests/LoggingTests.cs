using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using Flowline.Server.Logging;
using Microsoft.Extensions.Logging;

namespace Flowline.Cli.Tests;

/// <summary>
/// serve's log events: with <c>--log-format json</c> every line of a run (the start, a refused inventory
/// reload, a burst of malformed datagrams, SIGTERM) is one JSON object with time, level, component and
/// event; text lines carry the same four. Counted things (malformed datagrams) become a few summary events,
/// not a line a datagram.
/// </summary>
public sealed class LoggingTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-logging-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Every_line_of_a_json_run_is_an_event_with_time_level_component_and_event()
    {
        var inventory = Path.Combine(_dir.FullName, "inventory.yaml");
        File.WriteAllText(inventory, "accounts: [{id: acc-1, name: One}]\n");
        var serve = new ServeProcess(Path.Combine(_dir.FullName, "data"), "--inventory", inventory, "--log-format", "json");
        try
        {
            // A refused reload: a port with a MAC that is not one.
            File.WriteAllText(inventory, "accounts: [{id: acc-1, name: One}]\nports:\n  - {uuid: p1, account: acc-1, mac: \"not-a-mac\", ips: [10.0.0.1]}\n");
            serve.Hangup();
            ServeProcess.WaitFor(() => serve.Errors.Contains("\"event\":\"refused\"", StringComparison.Ordinal), "the refused reload's event");

            // A burst of junk at the sFlow port: 2,000 datagrams, a handful of events.
            using (var udp = new UdpClient())
            {
                var junk = new byte[64];
                for (var i = 0; i < 2000; i++)
                {
                    junk[3] = (byte)i;
                    udp.Send(junk, junk.Length, "127.0.0.1", serve.Ports["sflow"]);
                }
            }
            ServeProcess.WaitFor(() => JsonDocument.Parse(serve.Get("/api/v1/exporters")).RootElement.GetProperty("exporters").EnumerateArray()
                .Sum(e => e.GetProperty("malformed").GetInt64()) > 0, "the junk counted");
            Assert.Equal(0, serve.Terminate());

            var lines = serve.Errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var events = new List<(string Component, string Event, JsonElement Line)>();
            foreach (var line in lines)
            {
                using var doc = JsonDocument.Parse(line); // throws on a line that is not JSON
                var o = doc.RootElement.Clone();
                foreach (var key in new[] { "time", "level", "component", "event", "message" })
                {
                    Assert.True(o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0, $"{key} in {line}");
                }
                Assert.True(DateTimeOffset.TryParse(o.GetProperty("time").GetString(), CultureInfo.InvariantCulture, DateTimeStyles.None, out _), line);
                Assert.Contains(o.GetProperty("level").GetString(), new[] { "trace", "debug", "info", "warn", "error", "critical" });
                events.Add((o.GetProperty("component").GetString()!, o.GetProperty("event").GetString()!, o));
            }
            Assert.Contains(events, e => e is ("serve", "starting", _));
            Assert.Contains(events, e => e is ("serve", "http", _));
            var refused = Assert.Single(events, e => e is ("inventory", "refused", _)).Line;
            Assert.Equal("warn", refused.GetProperty("level").GetString());
            Assert.Equal("SIGHUP", refused.GetProperty("why").GetString());
            Assert.Contains(refused.GetProperty("errors").EnumerateArray(), x => x.GetString()!.Contains("mac", StringComparison.Ordinal));
            var malformed = events.Where(e => e is ("collector", "malformed", _)).Select(e => e.Line).ToList();
            Assert.InRange(malformed.Count, 1, 20);
            Assert.Equal(2000, malformed.Sum(m => m.GetProperty("datagrams").GetInt64()));
            Assert.Contains(events, e => e is ("serve", "stopping", _) && e.Line.GetProperty("signal").GetString() == "SIGTERM");
            var stopped = Assert.Single(events, e => e is ("collector", "stopped", _)).Line;
            Assert.Equal(2000, stopped.GetProperty("datagrams").GetInt64());
            Assert.Equal("exit", events[^1].Event);
        }
        finally
        {
            serve.Dispose();
        }
    }

    [Fact]
    public void Text_lines_name_level_component_and_event_and_keep_one_line_an_event()
    {
        var output = new StringWriter();
        var now = new DateTimeOffset(2026, 12, 5, 9, 30, 1, 250, TimeSpan.Zero);
        using var logs = new LineLoggerProvider(output, LogFormat.Text, LogLevel.Information, () => now);
        var log = logs.CreateLogger("inventory");
        log.Log(LogLevel.Warning, new EventId(7, "refused"), "first\nsecond", null, (s, _) => s);
        log.Log(LogLevel.Debug, new EventId(8, "quiet"), "not shown", null, (s, _) => s);
        logs.CreateLogger("Microsoft.AspNetCore.Server.Kestrel").Log(LogLevel.Information, new EventId(9, "framework"), "not shown either", null, (s, _) => s);
        Assert.Equal("2026-12-05T09:30:01.250Z warn  inventory/refused first | second\n", output.ToString().Replace("\r", "", StringComparison.Ordinal));
    }

    [Fact]
    public void Json_fields_keep_their_types_and_the_reserved_names_stay_the_events()
    {
        var output = new StringWriter();
        using var logs = new LineLoggerProvider(output, LogFormat.Json, LogLevel.Debug);
        logs.CreateLogger("collector").LogInformation(new EventId(1, "sample"),
            "{Count} of {Ratio} at {Where} {Message}", 42L, 0.5, "edge \"1\"", "shadowed");
        var o = JsonDocument.Parse(output.ToString()).RootElement;
        Assert.Equal(42, o.GetProperty("count").GetInt64());
        Assert.Equal(0.5, o.GetProperty("ratio").GetDouble());
        Assert.Equal("edge \"1\"", o.GetProperty("where").GetString());
        Assert.Equal("42 of 0.5 at edge \"1\" shadowed", o.GetProperty("message").GetString());
        Assert.Equal("sample", o.GetProperty("event").GetString());
        Assert.Equal("collector", o.GetProperty("component").GetString());
    }

    [Fact]
    public void Bad_log_settings_are_refused_with_the_choices()
    {
        var r = FlowlineProcess.RunFlowline(["serve", "--log-format", "xml"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("expected text or json", r.Stderr, StringComparison.Ordinal);
        r = FlowlineProcess.RunFlowline(["serve", "--log-level", "loud"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("expected trace, debug, info, warn, error, critical or none", r.Stderr, StringComparison.Ordinal);
    }
}
