namespace Flowline.Wire;

/// <summary>Every count and length read from the wire is checked against these before it is used.</summary>
public sealed record DecodeLimits
{
    public int MaxSamplesPerDatagram { get; init; } = 256;
    public int MaxRecordsPerSample { get; init; } = 64;
    public int MaxTemplatesPerExporter { get; init; } = 4096;
    public int MaxFieldsPerTemplate { get; init; } = 512;
    public int MaxRecordLength { get; init; } = 65535;
    /// <summary>Data sets held per exporter while their template has not arrived yet.</summary>
    public int MaxPendingSetsPerExporter { get; init; } = 512;
    public int MaxPendingBytesPerExporter { get; init; } = 4 << 20;
    /// <summary>
    /// How long a data set waits for its template: exporters resend templates every few minutes (IPFIX over UDP
    /// every 10 by RFC 7011's advice, NetFlow v9 devices at most every 30 by default).
    /// </summary>
    public TimeSpan MaxPendingAge { get; init; } = TimeSpan.FromHours(1);
    /// <summary>Exporter/domain pairs (NetFlow v9 source ids, IPFIX observation domains) one decoder keeps templates for; the least used are forgotten beyond it.</summary>
    public int MaxTemplateScopes { get; init; } = 10_000;
    /// <summary>Template fields one decoder keeps across all its scopes (about 50 bytes each, compiled): 100,000 templates of 10 fields.</summary>
    public long MaxTemplateFieldsTotal { get; init; } = 1_000_000;
    /// <summary>Bytes of held data sets across all scopes of one decoder.</summary>
    public long MaxPendingBytesTotal { get; init; } = 64L << 20;
    /// <summary>
    /// One exporter address, all its domains together, holds at most 1/N of the decoder's scopes, template fields
    /// and held bytes; beyond it its own least used scopes make room, so a sender that makes up domains or
    /// templates cannot push other exporters' templates out.
    /// </summary>
    public int MaxExporterShare { get; init; } = 8;
    /// <summary>Samplers (options data's samplerId with its rate) one exporter/domain scope keeps.</summary>
    public int MaxSamplersPerScope { get; init; } = 256;
    /// <summary>Nested encapsulations (VXLAN in GRE ...) followed inside a sampled header.</summary>
    public int MaxTunnelDepth { get; init; } = 2;
    public int MaxIPv6ExtensionHeaders { get; init; } = 8;

    public static DecodeLimits Default { get; } = new();
}
