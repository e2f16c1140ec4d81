using System.Text.Json;
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
    private readonly Stream _out;
    private readonly Utf8JsonWriter _json;
    private readonly bool _indented;
    private static readonly byte[] Newline = "\n"u8.ToArray();

    public JsonOutput(Stream output, bool indented)
    {
        _out = output;
        _indented = indented;
        _json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = indented, SkipValidation = false });
    }

    public void Write(DatagramCollector c, DecodeResult result, ReadOnlySpan<byte> datagram)
    {
        var j = _json;
        var d = c.Header;
        j.WriteStartObject();
        j.WriteString("datagramSourceIP", c.Source.ToString());
        j.WriteString("datagramSize", datagram.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        j.WriteString("unixSecondsUTC", S(c.TimeReceived / 1_000_000));
        if (c.HasHeader)
        {
            j.WriteString("protocol", FlowProtocolNames.Name(d.Protocol));
            j.WriteString("datagramVersion", S(d.Version));
            if (d.Protocol == FlowProtocol.SFlow5)
            {
                j.WriteString("agentSubId", S(d.ObsDomain));
                j.WriteString("agent", d.Agent.ToString());
                j.WriteString("packetSequenceNo", S(d.Sequence));
                j.WriteString("sysUpTime", S(d.UptimeMs));
                j.WriteString("samplesInPacket", S(d.Count));
            }
            else
            {
                j.WriteString("sequence", S(d.Sequence));
                j.WriteString("exportTime", S(d.ExportTime));
                if (d.Protocol != FlowProtocol.Ipfix) j.WriteString("sysUpTime", S(d.UptimeMs));
                j.WriteString(d.Protocol == FlowProtocol.Ipfix ? "observationDomain" : "sourceId", S(d.ObsDomain));
                if (d.Protocol != FlowProtocol.Ipfix) j.WriteString("count", S(d.Count));
            }
        }
        if (!result.IsOk)
        {
            j.WriteString("error", result.Describe(datagram));
        }
        if (c.Samples.Count > 0)
        {
            j.WriteStartArray("samples");
            var flows = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(c.Flows);
            var counters = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(c.Counters);
            foreach (var s in c.Samples)
            {
                var h = s.Header;
                j.WriteStartObject();
                j.WriteString("sampleType_tag", $"{h.Enterprise}:{h.Format}");
                j.WriteString("sampleType", h.IsCounters ? "COUNTERSSAMPLE" : "FLOWSAMPLE");
                j.WriteString("sampleSequenceNo", S(h.Sequence));
                j.WriteString("sourceId", $"{h.SourceId >> 24}:{h.SourceId & 0xFFFFFF}");
                if (!h.IsCounters)
                {
                    j.WriteString("meanSkipCount", S(h.SamplingRate));
                    j.WriteString("samplePool", S(h.SamplePool));
                    j.WriteString("dropEvents", S(h.Drops));
                    j.WriteString("inputPort", S(h.Input));
                    j.WriteString("outputPort", S(h.Output));
                    for (var i = s.FirstFlow; i < s.FirstFlow + s.FlowCount; i++)
                    {
                        j.WritePropertyName("flow");
                        WriteFlow(flows[i]);
                    }
                }
                else
                {
                    j.WriteStartArray("elements");
                    for (var i = s.FirstCounter; i < s.FirstCounter + s.CounterCount; i++)
                    {
                        WriteCounters(counters[i]);
                    }
                    j.WriteEndArray();
                }
                j.WriteEndObject();
            }
            j.WriteEndArray();
        }
        else if (c.Flows.Count > 0)
        {
            j.WriteStartArray("flows");
            foreach (var r in c.Flows) WriteFlow(r);
            j.WriteEndArray();
        }
        if (c.Templates.Count > 0)
        {
            j.WriteStartArray("templates");
            foreach (var t in c.Templates)
            {
                j.WriteStartObject();
                j.WriteString("templateId", S(t.TemplateId));
                j.WriteString("options", t.IsOptions ? "1" : "0");
                j.WriteString("withdrawn", t.Withdrawn ? "1" : "0");
                j.WriteString("fieldCount", S(t.FieldCount));
                j.WriteString("scopeFieldCount", S(t.ScopeFieldCount));
                j.WriteEndObject();
            }
            j.WriteEndArray();
        }
        if (c.OptionsRecords > 0) j.WriteString("optionsRecords", S(c.OptionsRecords));
        j.WriteEndObject();
        j.Flush();
        _out.Write(Newline);
        if (_indented) _out.Write(Newline);
        j.Reset();
    }

    private void WriteFlow(in FlowRecord r)
    {
        _json.WriteStartObject();
        foreach (var f in FlowFields.Decoded)
        {
            _json.WriteString(FlowFields.Utf8Name(f), FlowFields.Format(f, r));
        }
        _json.WriteEndObject();
    }

    private void WriteCounters(in CounterRecord c)
    {
        _json.WriteStartObject();
        _json.WriteString("counterBlock_tag", $"{c.Enterprise}:{c.Format}");
        foreach (var (name, value) in CounterFields(c)) _json.WriteString(name, value);
        _json.WriteEndObject();
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
        _ => S(c.Values[i]),
    };

    private static string S(ulong v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
    private static string S(long v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
    private static string S(uint v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
    private static string S(int v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
    private static string S(ushort v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public void Finish() => _out.Flush();
}

/// <summary>
/// sflowtool -g style: one "context field value" line per value, the context being
/// time, agent, sub-agent (domain), datagram sequence, data source, sample tag and element tag.
/// </summary>
internal sealed class GrepOutput(Stream output) : IDecodeOutput
{
    private readonly Utf8TextWriter _w = new(output);

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
        var t = DateTime.UnixEpoch.AddTicks(d.TimeReceived * 10);
        _w.Text(t.ToString("yyyy-MM-dd'T'HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture));
        _w.Text("+0000 ");
        _w.Address(d.Agent);
        _w.Byte((byte)' ');
        _w.Number((ulong)d.ObsDomain);
        _w.Byte((byte)' ');
        _w.Number((ulong)d.Sequence);
        _w.Byte((byte)' ');
        _w.Text(source);
        _w.Byte((byte)' ');
        _w.Text(tag);
        _w.Byte((byte)' ');
        _w.Text(element);
        _w.Byte((byte)' ');
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
