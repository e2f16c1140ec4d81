using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Flowline.Records;
using Microsoft.Extensions.Logging;

namespace Flowline.Server.Logging;

/// <summary>How log lines look: text for a terminal, one JSON object a line for the journal or a log shipper.</summary>
public enum LogFormat { Text, Json }

/// <summary>Log settings of the daemons (serve, agent): <c>--log-format</c> and <c>--log-level</c>.</summary>
public static class LogSettings
{
    public static LogFormat ParseFormat(string text) => text switch
    {
        "text" => LogFormat.Text,
        "json" => LogFormat.Json,
        _ => throw new FormatException($"log format '{text}': expected text or json"),
    };

    public static LogLevel ParseLevel(string text) => text switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "info" => LogLevel.Information,
        "warn" or "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "critical" => LogLevel.Critical,
        "none" => LogLevel.None,
        _ => throw new FormatException($"log level '{text}': expected trace, debug, info, warn, error, critical or none"),
    };

    public static string Name(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "error",
        LogLevel.Critical => "critical",
        _ => "none",
    };

    public static string Name(LogFormat format) => format == LogFormat.Json ? "json" : "text";
}

/// <summary>
/// The daemons' one logger provider: every event is one line on a writer (stderr), written whole under a
/// lock as it happens (nothing is queued, so nothing is lost at exit), with its time, level, component (the
/// logger's category) and event name. JSON lines carry the message and each named value of its template
/// as a field; text lines read <c>TIME LEVEL COMPONENT/EVENT message</c>. The framework's own categories
/// (ASP.NET Core) are logged as the component <c>http</c>, at warnings and above unless asked for more.
/// </summary>
public sealed class LineLoggerProvider(TextWriter output, LogFormat format, LogLevel minimum = LogLevel.Information, Func<DateTimeOffset>? clock = null) : ILoggerProvider, ILoggerFactory
{
    private readonly Lock _gate = new();
    private readonly ArrayBufferWriter<byte> _buffer = new(512);
    private readonly Func<DateTimeOffset> _clock = clock ?? (() => DateTimeOffset.UtcNow);

    public ILogger CreateLogger(string categoryName)
    {
        var framework = categoryName.StartsWith("Microsoft.", StringComparison.Ordinal) || categoryName.StartsWith("System.", StringComparison.Ordinal);
        var floor = framework ? (LogLevel)Math.Max((int)minimum, (int)LogLevel.Warning) : minimum;
        return new LineLogger(this, framework ? "http" : categoryName, floor);
    }

    void ILoggerFactory.AddProvider(ILoggerProvider provider) => throw new NotSupportedException("one provider: the line logger");

    public void Dispose()
    {
        lock (_gate) output.Flush();
    }

    internal void Write<TState>(LogLevel level, string component, EventId id, TState state, string message, Exception? error)
    {
        var time = _clock().UtcDateTime;
        var eventName = id.Name is { Length: > 0 } name ? name : id.Id != 0 ? id.Id.ToString(CultureInfo.InvariantCulture) : "message";
        lock (_gate)
        {
            string line;
            if (format == LogFormat.Json)
            {
                _buffer.Clear();
                using (var json = new Utf8JsonWriter(_buffer, ReadableJson.Compact))
                {
                    json.WriteStartObject();
                    json.WriteString("time", time.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
                    json.WriteString("level", LogSettings.Name(level));
                    json.WriteString("component", component);
                    json.WriteString("event", eventName);
                    json.WriteString("message", message);
                    if (state is IReadOnlyList<KeyValuePair<string, object?>> fields)
                    {
                        foreach (var (key, value) in fields)
                        {
                            if (key == "{OriginalFormat}") continue;
                            var field = FieldName(key);
                            if (!Reserved(field)) WriteField(json, field, value);
                        }
                    }
                    if (error is not null) json.WriteString("error", $"{error.GetType().Name}: {error.Message}");
                    json.WriteEndObject();
                }
                line = Encoding.UTF8.GetString(_buffer.WrittenSpan);
            }
            else
            {
                var text = error is null ? message : $"{message} ({error.GetType().Name}: {error.Message})";
                // One event, one line: a message holding line breaks (a list of errors) keeps them as " | ".
                if (text.Contains('\n', StringComparison.Ordinal)) text = text.Replace("\r", "", StringComparison.Ordinal).Replace("\n", " | ", StringComparison.Ordinal);
                line = $"{time:yyyy-MM-dd'T'HH:mm:ss.fff'Z'} {LogSettings.Name(level),-5} {component}/{eventName} {text}";
            }
            try
            {
                output.WriteLine(line);
                output.Flush();
            }
            catch (IOException)
            {
                // stderr closed (the terminal went away): logging must never stop the daemon.
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private static bool Reserved(string name) => name is "time" or "level" or "component" or "event" or "message" or "error";

    /// <summary>A template's name as a field: <c>{Path}</c> is <c>path</c>, <c>{RecordsStored}</c> is <c>recordsStored</c>.</summary>
    private static string FieldName(string key) => key.Length > 0 && char.IsUpper(key[0]) ? char.ToLowerInvariant(key[0]) + key[1..] : key;

    private static void WriteField(Utf8JsonWriter json, string name, object? value)
    {
        switch (value)
        {
            case null: json.WriteNull(name); break;
            case bool b: json.WriteBoolean(name, b); break;
            case int or long or short or byte or uint or ushort or sbyte: json.WriteNumber(name, Convert.ToInt64(value, CultureInfo.InvariantCulture)); break;
            case ulong u: json.WriteNumber(name, u); break;
            case double d when double.IsFinite(d): json.WriteNumber(name, d); break;
            case float f when float.IsFinite(f): json.WriteNumber(name, f); break;
            case decimal m: json.WriteNumber(name, m); break;
            case string s: json.WriteString(name, s); break;
            case IEnumerable<string> list:
                json.WriteStartArray(name);
                foreach (var item in list) json.WriteStringValue(item);
                json.WriteEndArray();
                break;
            case IFormattable f: json.WriteString(name, f.ToString(null, CultureInfo.InvariantCulture)); break;
            default: json.WriteString(name, value.ToString()); break;
        }
    }

    private sealed class LineLogger(LineLoggerProvider provider, string component, LogLevel floor) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= floor;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            provider.Write(logLevel, component, eventId, state, formatter(state, exception), exception);
        }
    }
}
