using System.Text.Encodings.Web;
using System.Text.Json;

namespace Flowline.Records;

/// <summary>
/// How JSON that people read is written: the HTTP API's answers and the log lines. Only what JSON itself
/// requires is escaped (quotes, backslashes, control characters); the default encoder also escapes
/// <c>'</c>, <c>&lt;</c>, <c>&gt;</c>, <c>&amp;</c>, <c>+</c> and every non-ASCII letter for pages that embed
/// JSON in HTML, which none of these do (they go out as <c>application/json</c> or to a log).
/// </summary>
public static class ReadableJson
{
    public static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static readonly JsonWriterOptions Indented = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = true };

    /// <summary>For <c>JsonNode.ToJsonString</c> and the framework's serializer.</summary>
    public static readonly JsonSerializerOptions Serializer = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static readonly JsonSerializerOptions SerializerIndented = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, WriteIndented = true };
}
