using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Flowline.Api;
using Flowline.Records;

namespace Flowline.Cli.Api;

/// <summary>The one output file assembled from the windows' parts, and the progress line.</summary>
internal static partial class DescribeFlowLogsCommand
{
    private static void Assemble(string parts, string output, string format, Call call, DateTimeOffset start, DateTimeOffset end)
    {
        AtomicFile.Write(output, f =>
        {
            void Write(string s) => f.Write(Encoding.UTF8.GetBytes(s));
            if (format == "json")
            {
                Write("{\n  \"DescribeFlowLogResponse\": {\n");
                Write($"    \"start_time\": {JsonSerializer.Serialize(DescribeFlowLog.Format(start, call.Zone))},\n");
                Write($"    \"end_time\": {JsonSerializer.Serialize(DescribeFlowLog.Format(end, call.Zone))},\n");
                if (call.Account is not null) Write($"    \"account\": {JsonSerializer.Serialize(call.Account)},\n");
                Write("    \"value\": {\n      \"item\": [");
            }
            var first = true;
            foreach (var (_, _, path) in Parts(parts))
            {
                foreach (var line in File.ReadLines(path))
                {
                    if (format == "json")
                    {
                        Write(first ? "\n        " : ",\n        ");
                        Write(line);
                    }
                    else
                    {
                        Write(line);
                        Write("\n");
                    }
                    first = false;
                }
            }
            if (format == "json") Write(first ? "]\n    }\n  }\n}\n" : "\n      ]\n    }\n  }\n}\n");
        });
    }

    /// <summary>Percent done and an estimate of the time left; a line every 10% when the output is not a terminal.</summary>
    private sealed class Progress(TextWriter stderr, bool quiet, double totalSeconds)
    {
        private readonly bool _terminal = !Console.IsErrorRedirected;
        private int _lastDecile = -1;
        private bool _drawn;

        public void Show(double doneSeconds, long flows, TimeSpan elapsed, double resumedSeconds)
        {
            if (quiet) return;
            var fraction = totalSeconds > 0 ? doneSeconds / totalSeconds : 1;
            var fetched = doneSeconds - resumedSeconds;
            var eta = fetched > 0 ? TimeSpan.FromSeconds(elapsed.TotalSeconds * (totalSeconds - doneSeconds) / fetched) : (TimeSpan?)null;
            var text = $"{fraction * 100,5:0.0}% {flows,12:N0} flows  elapsed {Span(elapsed)}  ETA {(eta is { } e ? Span(e) : "--:--")}";
            if (_terminal)
            {
                var width = 30;
                var filled = (int)Math.Round(fraction * width);
                stderr.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {text}");
                _drawn = true;
            }
            else if ((int)(fraction * 10) is var decile && decile != _lastDecile)
            {
                _lastDecile = decile;
                stderr.WriteLine(text.Trim());
            }
        }

        public void End()
        {
            if (_drawn) stderr.WriteLine();
        }

        private static string Span(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : t.ToString(@"mm\:ss", CultureInfo.InvariantCulture);
    }
}
