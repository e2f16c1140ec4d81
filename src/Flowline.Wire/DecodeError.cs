namespace Flowline.Wire;

/// <summary>Why a datagram (or the rest of it) was dropped. Every value is counted per exporter.</summary>
public enum DecodeError : byte
{
    None = 0,
    /// <summary>A length or count points past the end of the datagram.</summary>
    Truncated,
    /// <summary>The first bytes are no sFlow v5, NetFlow v5/v9 or IPFIX header.</summary>
    UnknownProtocol,
    /// <summary>A header field holds a value the protocol does not allow (agent address type, set id 0..255 other than templates).</summary>
    BadHeader,
    /// <summary>An inner length disagrees with its container (sample, record, set, template).</summary>
    BadLength,
    /// <summary>A count exceeds a configured limit (samples per datagram, records per sample, fields per template).</summary>
    LimitExceeded,
    /// <summary>A template or options template that cannot be used (zero-length fixed field, bad scope count).</summary>
    BadTemplate,
    /// <summary>The exporter already holds the configured maximum number of templates.</summary>
    TemplateLimit,
    /// <summary>The NetFlow v9 header's record count matches neither the records present nor the data records present.</summary>
    CountMismatch,
    /// <summary>A decoder fault (a bug): the datagram is dropped and counted, the caller keeps running.</summary>
    Internal,
}

public static class DecodeErrorNames
{
    public static readonly int Count = Enum.GetValues<DecodeError>().Length;

    public static string Name(DecodeError e) => e switch
    {
        DecodeError.None => "none",
        DecodeError.Truncated => "truncated",
        DecodeError.UnknownProtocol => "unknown_protocol",
        DecodeError.BadHeader => "bad_header",
        DecodeError.BadLength => "bad_length",
        DecodeError.LimitExceeded => "limit_exceeded",
        DecodeError.BadTemplate => "bad_template",
        DecodeError.TemplateLimit => "template_limit",
        DecodeError.CountMismatch => "count_mismatch",
        DecodeError.Internal => "internal",
        _ => "other",
    };
}

/// <summary>The outcome of decoding one datagram: the first fault and where it was found.</summary>
public readonly record struct DecodeResult(DecodeError Error, int Offset)
{
    public static DecodeResult Ok => default;
    public bool IsOk => Error == DecodeError.None;

    public static DecodeResult Fail(DecodeError error, int offset) => new(error, offset);

    /// <summary>Describes the fault with a capped hex excerpt of the bytes at the offset.</summary>
    public string Describe(ReadOnlySpan<byte> datagram, int maxBytes = 16)
    {
        if (IsOk)
        {
            return "ok";
        }
        var start = Math.Clamp(Offset, 0, datagram.Length);
        var excerpt = datagram.Slice(start, Math.Min(maxBytes, datagram.Length - start));
        return $"{DecodeErrorNames.Name(Error)} at byte {Offset} of {datagram.Length}: " +
               (excerpt.IsEmpty ? "<end of datagram>" : Convert.ToHexString(excerpt).ToLowerInvariant());
    }
}
