using Flowline.Server;

namespace Flowline.Cli.Tests;

/// <summary>
/// serve's one settings table: every setting is accepted as a YAML key, a FLOWLINE_* variable and a flag, each
/// the same way, and appears in --help; bad values and unknown names are refused with where they came from.
/// </summary>
public sealed class ServeSettingsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-settings-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Every_setting_is_a_yaml_key_a_variable_and_a_flag_and_is_in_the_help()
    {
        var help = ServeCommand.Help;
        Assert.True(ServeSettings.All.Count >= 35, $"{ServeSettings.All.Count} settings");
        Assert.Equal(ServeSettings.All.Count, ServeSettings.All.Select(s => s.Key).Distinct().Count());
        foreach (var setting in ServeSettings.All)
        {
            var fallback = setting.Show(new ServeOptions());
            var yaml = Path.Combine(_dir.FullName, setting.Key + ".yaml");
            File.WriteAllText(yaml, $"{setting.Key}: \"{setting.Sample}\"\n");
            var fromYaml = setting.Show(ServeOptionsReader.Read(["--config", yaml], _ => null));
            var fromVariable = setting.Show(ServeOptionsReader.Read([], name => name == setting.Variable ? setting.Sample : null));
            var fromFlag = setting.Show(ServeOptionsReader.Read([setting.Flag, setting.Sample], _ => null));
            Assert.True(fromYaml != fallback, $"{setting.Key}: the sample {setting.Sample} shows as the default {fallback}");
            Assert.Equal(fromYaml, fromVariable);
            Assert.Equal(fromYaml, fromFlag);
            foreach (var alias in setting.Aliases ?? []) Assert.Equal(fromFlag, setting.Show(ServeOptionsReader.Read([alias, setting.Sample], _ => null)));
            Assert.Contains(setting.Flag + " ", help, StringComparison.Ordinal);
            Assert.Contains(setting.Key, help, StringComparison.Ordinal);
            Assert.Contains(setting.Variable, help, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Flags_beat_variables_beat_the_file_and_errors_say_where()
    {
        var yaml = Path.Combine(_dir.FullName, "serve.yaml");
        File.WriteAllText(yaml, "session_observation: egress\nrealtime_max_keys: 2000\nsflow: [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n");
        var o = ServeOptionsReader.Read(["--config", yaml, "--realtime-max-keys", "3000"], n => n == "FLOWLINE_SESSION_OBSERVATION" ? "both" : null);
        Assert.Equal(Sessions.SessionObservation.Both, o.Collector.SessionObservation);
        Assert.Equal(3000, o.Collector.RealtimeMaxKeys);
        Assert.Equal(2, o.Collector.Sflow.Count);
        // A listener flag given twice lists both, replacing the file's.
        o = ServeOptionsReader.Read(["--config", yaml, "--sflow", "127.0.0.1:7", "--sflow", "127.0.0.1:8"], _ => null);
        Assert.Equal(["127.0.0.1:7", "127.0.0.1:8"], o.Collector.Sflow.Select(e => e.ToString()));

        Assert.Contains("FLOWLINE_BATCH_INTERVAL", Assert.Throws<FormatException>(() => ServeOptionsReader.Read([], n => n == "FLOWLINE_BATCH_INTERVAL" ? "soon" : null)).Message, StringComparison.Ordinal);
        Assert.Contains("--queue-bytes", Assert.Throws<FormatException>(() => ServeOptionsReader.Read(["--queue-bytes", "lots"], _ => null)).Message, StringComparison.Ordinal);
        // A value below a setting's floor is refused with the range, not raised to it in silence.
        Assert.Contains("'500' is not a whole number from 1,000 to 1,000,000,000", Assert.Throws<FormatException>(() => ServeOptionsReader.Read(["--realtime-max-keys-total", "500"], _ => null)).Message, StringComparison.Ordinal);
        Assert.Contains("'10' is not a whole number from 1,000 to 100,000,000", Assert.Throws<FormatException>(() => ServeOptionsReader.Read(["--realtime-max-keys", "10"], _ => null)).Message, StringComparison.Ordinal);
        Assert.Contains("'1000000000' is not a whole number from 1 to 16,777,216", Assert.Throws<FormatException>(() => ServeOptionsReader.Read(["--queue-datagrams", "1000000000"], _ => null)).Message, StringComparison.Ordinal);
        Assert.Contains("'3g' is more than this setting takes (at most 2047m)", Assert.Throws<FormatException>(() => ServeOptionsReader.Read(["--queue-bytes", "3g"], _ => null)).Message, StringComparison.Ordinal);
        Assert.Equal(4L << 30, ServeOptionsReader.Read(["--compaction-memory", "4g"], _ => null).Collector.CompactionMemory);
        Assert.Contains("'0s' is not a duration above zero", Assert.Throws<FormatException>(() => ServeOptionsReader.Read(["--batch-interval", "0s"], _ => null)).Message, StringComparison.Ordinal);
        Assert.Contains("'soon' is not a duration (such as", Assert.Throws<FormatException>(() => ServeOptionsReader.Read(["--batch-interval", "soon"], _ => null)).Message, StringComparison.Ordinal);
        Assert.Contains("unknown option --no-such", Assert.Throws<FormatException>(() => ServeOptionsReader.Read(["--no-such", "1"], _ => null)).Message, StringComparison.Ordinal);
        File.WriteAllText(yaml, "data_dir: x\nno_such_key: 1\n");
        Assert.Contains("serve.yaml:2: no_such_key: unknown setting", Assert.Throws<FormatException>(() => ServeOptionsReader.Read(["--config", yaml], _ => null)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_misspelt_variable_is_named_with_the_setting_it_most_likely_meant()
    {
        var unknown = ServeOptionsReader.UnknownVariables(["PATH", "FLOWLINE_RETENSION", "FLOWLINE_RETENTION", "FLOWLINE_ACCESS_KEY", "FLOWLINE_NOTHING_LIKE_IT", "FLOWLINE_DATADIR"]).ToList();
        Assert.Equal([("FLOWLINE_DATADIR", "FLOWLINE_DATA_DIR"), ("FLOWLINE_NOTHING_LIKE_IT", null), ("FLOWLINE_RETENSION", "FLOWLINE_RETENTION")], unknown);
        // serve says so at start, and starts.
        var psi = FlowlineProcess.Flowline(["serve", "--data-dir", Path.Combine(_dir.FullName, "data"), "--sflow", "127.0.0.1:0", "--netflow", "127.0.0.1:0", "--ipfix", "127.0.0.1:0", "--http", "127.0.0.1:0", "--log-level", "warn"]);
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("FLOWLINE_", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(name);
        psi.Environment["FLOWLINE_RETENSION"] = "1d";
        using var serve = System.Diagnostics.Process.Start(psi)!;
        string? line;
        try
        {
            line = await serve.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            serve.Kill();
            await serve.WaitForExitAsync();
        }
        Assert.Contains("serve/unknown-variable FLOWLINE_RETENSION is set but no setting reads it (did you mean FLOWLINE_RETENTION?)", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--ddos-local-as", "4294967296", "not an AS number")]
    [InlineData("--ddos-neighbors", "127.0.0.2=4294967296", "not an AS number")]
    [InlineData("--ddos-neighbors", "127.0.0.2:0=65001", "port 0")]
    [InlineData("--ddos-router-id", "0.0.0.0", "other than 0.0.0.0")]
    [InlineData("--ddos-router-id", "1.2.3", "four numbers")]
    [InlineData("--ddos-groups", "web=", "no prefixes")]
    [InlineData("--ddos-thresholds", "nogroup.udp_flood=10k", "group 'nogroup' is not defined by ddos_groups")]
    [InlineData("--ddos-group-actions", "nosuch=drop", "group 'nosuch' is not defined by ddos_groups")]
    [InlineData("--ddos", "on", "expected off, dry-run, manual or automatic")] // not a guess at automatic, which announces without approval
    [InlineData("--ddos", "auto", "expected off, dry-run, manual or automatic")]
    [InlineData("--ddos", "true", "expected off, dry-run, manual or automatic")]
    public void Ddos_settings_a_router_would_refuse_or_that_apply_to_nothing_are_refused(string flag, string value, string reason)
    {
        var e = Assert.Throws<FormatException>(() => ServeOptionsReader.Read([flag, value], _ => null));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        // A group that is defined takes its own thresholds and action.
        ServeOptionsReader.Read(["--ddos-groups", "web=203.0.113.0/24", "--ddos-thresholds", "web.udp_flood=10k", "--ddos-group-actions", "web=drop"], _ => null);
    }
}
