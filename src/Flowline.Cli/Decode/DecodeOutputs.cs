using Flowline.Wire;
using Flowline.Records;

namespace Flowline.Cli.Decode;

/// <summary>Writes what one datagram decoded to in one of the `flowline decode` formats.</summary>
internal interface IDecodeOutput
{
    void Write(DatagramCollector c, DecodeResult result, ReadOnlySpan<byte> datagram);
    void Finish();
}

/// <summary>A column of `--format csv`: a canonical field or an sflowtool -L field.</summary>
internal readonly record struct CsvColumn(string Name, FlowField? Canonical, SflowtoolField? Sflowtool)
{
    public static bool TryParse(string name, out CsvColumn column)
    {
        if (FlowFields.TryParse(name, out var f))
        {
            column = new CsvColumn(name, f, null);
            return true;
        }
        if (SflowtoolFields.TryParse(name, out var s))
        {
            column = new CsvColumn(name, null, s);
            return true;
        }
        column = default;
        return false;
    }
}

/// <summary>
/// The decoders' sink for CSV: each flow record is written as it is decoded, with the datagram's header and
/// the current sFlow sample's, instead of being collected with the rest of its datagram first.
/// </summary>
internal readonly struct CsvRowSink(DatagramCollector collector, CsvOutput csv) : IFlowSink
{
    public void OnDatagram(in DatagramHeader header) => collector.OnDatagram(header);

    public void OnSample(in SampleHeader sample)
    {
        collector.Sample = sample;
        collector.HasSample = true;
    }

    public void OnFlow(in FlowRecord record, in SampledPacket packet)
    {
        if (collector.HasSample && record.Protocol == FlowProtocol.SFlow5) csv.Row(collector.Header, collector.Sample, record);
        else csv.Row(collector.Header, default, record);
    }

    public void OnCounters(in CounterRecord record)
    {
    }

    public void OnTemplate(in TemplateEvent template)
    {
    }

    public void OnOptions(FlowProtocol protocol, uint obsDomain, ushort templateId)
    {
    }
}

/// <summary>One CSV row per flow record (formats `csv` and `flows`).</summary>
internal sealed class CsvOutput : IDecodeOutput
{
    private readonly Utf8TextWriter _w;
    private readonly CsvColumn[] _columns;
    // The columns split by kind once, so that a row reads no nullables: canonical field, or sflowtool field when -1.
    private readonly int[] _canonical;
    private readonly SflowtoolField[] _sflowtool;

    public CsvOutput(Stream output, CsvColumn[] columns, bool header)
    {
        _w = new Utf8TextWriter(output);
        _columns = columns;
        _canonical = [.. columns.Select(c => c.Canonical is { } f ? (int)f : -1)];
        _sflowtool = [.. columns.Select(c => c.Sflowtool ?? default)];
        if (header)
        {
            for (var i = 0; i < columns.Length; i++)
            {
                if (i > 0) _w.Byte((byte)',');
                _w.Text(columns[i].Name);
            }
            _w.Byte((byte)'\n');
        }
    }

    public void Write(DatagramCollector c, DecodeResult result, ReadOnlySpan<byte> datagram)
    {
        // Rows went out as the decoder produced them (CsvRowSink); what is left is to keep the buffer from growing.
        _w.MaybeFlush();
    }

    /// <summary>One row: a flow record with the header of its datagram and of its sFlow sample (default for other protocols).</summary>
    public void Row(in DatagramHeader d, in SampleHeader s, in FlowRecord r)
    {
        var canonical = _canonical;
        var w = _w;
        for (var i = 0; i < canonical.Length; i++)
        {
            if (i > 0) w.Byte((byte)',');
            if (canonical[i] >= 0) FlowFields.Write(w, (FlowField)canonical[i], r);
            else SflowtoolFields.Write(w, _sflowtool[i], d, s, r);
        }
        w.Byte((byte)'\n');
    }

    public void Finish() => _w.Flush();
}

/// <summary>One JSON object per datagram, every value a string as in sflowtool (formats `json` and `jsonl`).</summary>
internal sealed class JsonOutput : IDecodeOutput
{
    private readonly Utf8TextWriter _w;
    private readonly JsonText _json;
    private readonly bool _indented;

    public JsonOutput(Stream output, bool indented)
    {
        _w = new Utf8TextWriter(output);
        _indented = indented;
        _json = new JsonText(_w, indented);
    }

    public void Write(DatagramCollector c, DecodeResult result, ReadOnlySpan<byte> datagram)
    {
        var j = _json;
        var d = c.Header;
        j.Reset();
        j.StartObject();
        j.String("datagramSourceIP"u8, c.Source.ToString());
        j.Number("datagramSize"u8, (ulong)datagram.Length);
        j.Number("unixSecondsUTC"u8, (ulong)(c.TimeReceived / 1_000_000));
        if (c.HasHeader)
        {
            j.String("protocol"u8, FlowProtocolNames.Name(d.Protocol));
            j.Number("datagramVersion"u8, d.Version);
            if (d.Protocol == FlowProtocol.SFlow5)
            {
                j.Number("agentSubId"u8, d.ObsDomain);
                j.String("agent"u8, d.Agent.ToString());
                j.Number("packetSequenceNo"u8, d.Sequence);
                j.Number("sysUpTime"u8, d.UptimeMs);
                j.Number("samplesInPacket"u8, d.Count);
            }
            else
            {
                j.Number("sequence"u8, d.Sequence);
                j.Number("exportTime"u8, d.ExportTime);
                if (d.Protocol != FlowProtocol.Ipfix) j.Number("sysUpTime"u8, d.UptimeMs);
                j.Number(d.Protocol == FlowProtocol.Ipfix ? "observationDomain"u8 : "sourceId"u8, d.ObsDomain);
                if (d.Protocol != FlowProtocol.Ipfix) j.Number("count"u8, d.Count);
            }
        }
        if (!result.IsOk)
        {
            j.String("error"u8, result.Describe(datagram));
        }
        if (c.Samples.Count > 0)
        {
            j.StartArray("samples"u8);
            var flows = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(c.Flows);
            var counters = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(c.Counters);
            foreach (var s in c.Samples)
            {
                var h = s.Header;
                j.StartObject();
                j.String("sampleType_tag"u8, $"{h.Enterprise}:{h.Format}");
                j.String("sampleType"u8, h.IsCounters ? "COUNTERSSAMPLE" : "FLOWSAMPLE");
                j.Number("sampleSequenceNo"u8, h.Sequence);
                j.String("sourceId"u8, $"{h.SourceId >> 24}:{h.SourceId & 0xFFFFFF}");
                if (!h.IsCounters)
                {
                    j.Number("meanSkipCount"u8, h.SamplingRate);
                    j.Number("samplePool"u8, h.SamplePool);
                    j.Number("dropEvents"u8, h.Drops);
                    j.Number("inputPort"u8, h.Input);
                    j.Number("outputPort"u8, h.Output);
                    for (var i = s.FirstFlow; i < s.FirstFlow + s.FlowCount; i++)
                    {
                        WriteFlow("flow"u8, flows[i]);
                    }
                }
                else
                {
                    j.StartArray("elements"u8);
                    for (var i = s.FirstCounter; i < s.FirstCounter + s.CounterCount; i++)
                    {
                        WriteCounters(counters[i]);
                    }
                    j.EndArray();
                }
                j.EndObject();
            }
            j.EndArray();
        }
        else if (c.Flows.Count > 0)
        {
            j.StartArray("flows"u8);
            foreach (var r in c.Flows) WriteFlow(default, r);
            j.EndArray();
        }
        if (c.Templates.Count > 0)
        {
            j.StartArray("templates"u8);
            foreach (var t in c.Templates)
            {
                j.StartObject();
                j.Number("templateId"u8, t.TemplateId);
                j.String("options"u8, t.IsOptions ? "1" : "0");
                j.String("withdrawn"u8, t.Withdrawn ? "1" : "0");
                j.Number("fieldCount"u8, (ulong)t.FieldCount);
                j.Number("scopeFieldCount"u8, (ulong)t.ScopeFieldCount);
                j.EndObject();
            }
            j.EndArray();
        }
        if (c.OptionsRecords > 0) j.Number("optionsRecords"u8, (ulong)c.OptionsRecords);
        j.EndObject();
        _w.Byte((byte)'\n');
        if (_indented) _w.Byte((byte)'\n');
        _w.MaybeFlush();
    }

    /// <summary>A flow record's decoded fields: a member named <paramref name="name"/>, or an element of the array when empty.</summary>
    private void WriteFlow(ReadOnlySpan<byte> name, in FlowRecord r)
    {
        if (name.IsEmpty) _json.StartObject();
        else _json.StartObject(name);
        foreach (var f in FlowFields.Decoded)
        {
            _json.Field(f, r);
        }
        _json.EndObject();
    }

    private void WriteCounters(in CounterRecord c)
    {
        _json.StartObject();
        _json.String("counterBlock_tag"u8, $"{c.Enterprise}:{c.Format}");
        foreach (var (name, value) in CounterFields(c)) _json.String(name, value);
        _json.EndObject();
    }

    /// <summary>A counter record's values by name as text (sflowtool's names; host_descr and host_adapters field by field).</summary>
    internal static IEnumerable<(string Name, string Value)> CounterFields(CounterRecord c)
    {
        var schema = c.Schema;
        if (schema is null) return [];
        if (schema.Structured) return Flowline.Wire.SFlow.SFlowHostStructures.Fields(c);
        return Enumerable.Range(0, c.Count).Select(i => (schema.Names[i], CounterText(schema, c, i)));
    }

    private static string CounterText(CounterSchema schema, in CounterRecord c, int i) => schema.Kinds[i] switch
    {
        CounterFieldKind.F32 => BitConverter.Int32BitsToSingle((int)c.Values[i]).ToString("0.000000", System.Globalization.CultureInfo.InvariantCulture),
        CounterFieldKind.Hundredths when c.Values[i] == uint.MaxValue => "unknown",
        CounterFieldKind.Hundredths => (c.Values[i] / 100.0).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture),
        CounterFieldKind.Hex64 => c.Values[i].ToString("x16", System.Globalization.CultureInfo.InvariantCulture),
        CounterFieldKind.Mac => c.Values[i].ToString("x12", System.Globalization.CultureInfo.InvariantCulture),
        _ => c.Values[i].ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public void Finish() => _w.Flush();
}

/// <summary>
/// sflowtool -g style: one "context field value" line per value, the context being
/// time, agent, sub-agent (domain), datagram sequence, data source, sample tag and element tag.
/// </summary>
internal sealed class GrepOutput : IDecodeOutput
{
    private readonly Utf8TextWriter _w;
    private readonly MemoryStream _prefixBytes = new();
    private readonly Utf8TextWriter _prefix;
    private (long, FlowAddress, uint, uint, string, string, string) _prefixKey;
    private bool _hasPrefix;

    public GrepOutput(Stream output)
    {
        _w = new Utf8TextWriter(output);
        _prefix = new Utf8TextWriter(_prefixBytes, 256);
    }

    public void Write(DatagramCollector c, DecodeResult result, ReadOnlySpan<byte> datagram)
    {
        var d = c.Header;
        if (!c.HasHeader)
        {
            d = new DatagramHeader { Exporter = c.Source, Agent = c.Source, TimeReceived = c.TimeReceived };
            Line(d, "0:0", "0:0", "0:0", "datagramSourceIP", c.Source.ToString());
            Line(d, "0:0", "0:0", "0:0", "error", result.Describe(datagram));
            _w.MaybeFlush();
            return;
        }
        Line(d, "0:0", "0:0", "0:0", "datagramSourceIP", d.Exporter.ToString());
        Line(d, "0:0", "0:0", "0:0", "datagramSize", datagram.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Line(d, "0:0", "0:0", "0:0", "protocol", FlowProtocolNames.Name(d.Protocol));
        if (!result.IsOk)
        {
            Line(d, "0:0", "0:0", "0:0", "error", result.Describe(datagram));
        }
        var flows = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(c.Flows);
        var counters = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(c.Counters);
        if (c.Samples.Count > 0)
        {
            foreach (var s in c.Samples)
            {
                var h = s.Header;
                var source = $"{h.SourceId >> 24}:{h.SourceId & 0xFFFFFF}";
                var tag = $"{h.Enterprise}:{h.Format}";
                Line(d, source, tag, "0:0", "sampleType", h.IsCounters ? "COUNTERSSAMPLE" : "FLOWSAMPLE");
                Line(d, source, tag, "0:0", "sampleSequenceNo", h.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture));
                for (var i = s.FirstFlow; i < s.FirstFlow + s.FlowCount; i++)
                {
                    FlowLines(d, source, tag, "flow", flows[i]);
                }
                for (var i = s.FirstCounter; i < s.FirstCounter + s.CounterCount; i++)
                {
                    var cr = counters[i];
                    var element = $"{cr.Enterprise}:{cr.Format}";
                    foreach (var (name, value) in JsonOutput.CounterFields(cr)) Line(d, source, tag, element, name, value);
                }
            }
        }
        else
        {
            foreach (var t in c.Templates)
            {
                Line(d, "0:0", "template", t.TemplateId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    t.Withdrawn ? "withdrawn" : t.IsOptions ? "optionsFields" : "fields",
                    t.FieldCount.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            for (var i = 0; i < flows.Length; i++)
            {
                FlowLines(d, "0:0", "flow", (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), flows[i]);
            }
        }
        _w.MaybeFlush();
    }

    private void FlowLines(in DatagramHeader d, string source, string tag, string element, in FlowRecord r)
    {
        foreach (var f in FlowFields.Decoded)
        {
            Prefix(d, source, tag, element);
            _w.Raw(FlowFields.Utf8Name(f));
            _w.Byte((byte)' ');
            FlowFields.Write(_w, f, r);
            _w.Byte((byte)'\n');
        }
    }

    private void Prefix(in DatagramHeader d, string source, string tag, string element)
    {
        // A flow's forty-odd lines share their context: it is formatted once and copied to each line.
        var key = (d.TimeReceived, d.Agent, d.ObsDomain, d.Sequence, source, tag, element);
        if (!_hasPrefix || key != _prefixKey)
        {
            _prefixBytes.SetLength(0);
            var t = DateTime.UnixEpoch.AddTicks(d.TimeReceived * 10);
            _prefix.Text(t.ToString("yyyy-MM-dd'T'HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture));
            _prefix.Text("+0000 ");
            _prefix.Address(d.Agent);
            _prefix.Byte((byte)' ');
            _prefix.Number((ulong)d.ObsDomain);
            _prefix.Byte((byte)' ');
            _prefix.Number((ulong)d.Sequence);
            _prefix.Byte((byte)' ');
            _prefix.Text(source);
            _prefix.Byte((byte)' ');
            _prefix.Text(tag);
            _prefix.Byte((byte)' ');
            _prefix.Text(element);
            _prefix.Byte((byte)' ');
            _prefix.Flush(force: false);
            (_prefixKey, _hasPrefix) = (key, true);
        }
        _w.Raw(_prefixBytes.GetBuffer().AsSpan(0, (int)_prefixBytes.Length));
    }

    private void Line(in DatagramHeader d, string source, string tag, string element, string name, string value)
    {
        Prefix(d, source, tag, element);
        _w.Text(name);
        _w.Byte((byte)' ');
        _w.Text(OneLine(value));
        _w.Byte((byte)'\n');
    }

    /// <summary>
    /// A value as one line: what an agent sent as text (a host name, an OS release) may hold line breaks and other
    /// control characters, which are written as \xNN (and a backslash as \\) so that each value stays on its line.
    /// </summary>
    internal static string OneLine(string value)
    {
        if (value.AsSpan().IndexOfAnyInRange('\0', '\x1f') < 0 && !value.Contains('\x7f') && !value.Contains('\\')) return value;
        var b = new System.Text.StringBuilder(value.Length + 8);
        foreach (var ch in value)
        {
            if (ch == '\\') b.Append(@"\\");
            else if (ch < ' ' || ch == '\x7f') b.Append(@"\x").Append(((int)ch).ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            else b.Append(ch);
        }
        return b.ToString();
    }

    public void Finish() => _w.Flush();
}

/// <summary>Format `pcap`: frames are written by the collector as flows are decoded.</summary>
internal sealed class PcapOutput(Stream output) : IDecodeOutput
{
    public void Write(DatagramCollector c, DecodeResult result, ReadOnlySpan<byte> datagram) { }

    public void Finish() => output.Flush();
}
