using System.Globalization;
using System.Text;
using Flowline.Records;

namespace Flowline.Query;

/// <summary>
/// nfdump 1.7's text output formats: the predefined <c>line</c>, <c>long</c>, <c>extended</c>, <c>biline</c>,
/// <c>bilong</c>, <c>gline</c>, <c>glong</c> (each with a <c>6</c> suffix for whole IPv6 addresses) and
/// <c>fmt:</c> strings of <c>%</c> elements, written as nfdump writes them: the same widths, the same number
/// scaling (<c>1.2 M</c>; plain numbers with <c>-N</c>), local time, long IPv6 addresses shortened to
/// <c>2001:db..0:fed5</c>. Elements for what Flowline's records do not carry are refused with their name.
/// </summary>
public sealed partial class NfdumpFormat
{
    /// <summary>The predefined formats, as nfdump 1.7 defines them.</summary>
    public static readonly IReadOnlyDictionary<string, string> Predefined = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["line"] = "%ts %td %pr %sap -> %dap %pkt %byt %fl",
        ["gline"] = "%ts %td %pr %gsap -> %gdap %pkt %byt %fl",
        ["long"] = "%ts %td %pr %sap -> %dap %flg %tos %pkt %byt %fl",
        ["glong"] = "%ts %td %pr %gsap -> %gdap %flg %tos %pkt %byt %fl",
        ["extended"] = "%ts %td %pr %sap -> %dap %flg %tos %pkt %byt %pps %bps %bpp %fl",
        ["biline"] = "%ts %td %pr %sap <-> %dap %opkt %ipkt %obyt %ibyt %fl",
        ["bilong"] = "%ts %td %pr %sap <-> %dap %flg %tos %opkt %ipkt %obyt %ibyt %fl",
    };

    /// <summary>Elements written before and after the keys of an <c>-A</c> aggregation, as nfdump does.</summary>
    public const string AggregatePrefix = "%ts %td ", AggregateSuffix = "%pkt %byt %bps %bpp %fl";

    private readonly List<(Element Element, string? Text)> _parts = [];
    private readonly bool _plain, _longV6;
    private readonly StringBuilder _line = new(256);
    private byte[] _bytes = new byte[1024];
    private readonly Encoder _encoder = new UTF8Encoding(false).GetEncoder();

    /// <summary>The header line nfdump prints above the rows.</summary>
    public string Header { get; }

    /// <summary>The record columns the format reads.</summary>
    public IReadOnlySet<FlowField> Columns => _parts.SelectMany(p => ColumnsOf(p.Element)).ToHashSet();

    private NfdumpFormat(string format, bool plainNumbers, bool longV6)
    {
        _plain = plainNumbers;
        _longV6 = longV6;
        var header = new StringBuilder();
        format = ExpandNamed(format);
        var i = 0;
        while (i < format.Length)
        {
            if (format[i] != '%')
            {
                var next = format.IndexOf('%', i);
                var text = next < 0 ? format[i..] : format[i..next];
                _parts.Add((Element.Text, text));
                header.Append(' ', text.Length);
                i += text.Length;
                continue;
            }
            var end = i + 1;
            while (end < format.Length && char.IsAsciiLetter(format[end])) end++;
            if (format.AsSpan(i, end - i) is "%mpls") while (end < format.Length && char.IsAsciiDigit(format[end])) end++; // %mpls1 ... %mpls10
            else
            {
                // Names that end in digits (%ja3): taken whole when they are one.
                var digits = end;
                while (digits < format.Length && char.IsAsciiDigit(format[digits])) digits++;
                if (digits > end && (Elements.ContainsKey(format[i..digits]) || Refused.ContainsKey(format[i..digits]))) end = digits;
            }
            var token = format[i..end];
            if (!Elements.TryGetValue(token, out var e))
            {
                throw new FormatException(Refused.TryGetValue(token.StartsWith("%mpls", StringComparison.Ordinal) ? "%mpls" : token, out var what)
                    ? $"{token} ({what}) is not carried by Flowline's records"
                    : $"unknown format element '{(token.Length > 1 ? token : format[i..Math.Min(format.Length, i + 8)])}' at column {i + 1} (see `flowline query --help`)");
            }
            _parts.Add((e.Element, null));
            if (longV6 && e.IsAddress) header.Append(' ', 23);
            header.Append(e.Header);
            i = end;
        }
        Header = header.ToString();
    }

    /// <summary>
    /// A format from nfdump's <c>-o</c> argument: a predefined name (<c>line</c>, <c>long6</c> ...), <c>fmt:</c>
    /// followed by elements, or elements alone; <paramref name="wholeV6"/> is nfdump's -6 (whole IPv6 addresses in
    /// any format, as the 6 names give them). Throws <see cref="FormatException"/> naming what is wrong.
    /// </summary>
    public static NfdumpFormat Parse(string spec, bool plainNumbers = false, bool wholeV6 = false)
    {
        if (spec.StartsWith("fmt:", StringComparison.OrdinalIgnoreCase) || spec.StartsWith('%'))
        {
            var body = spec.StartsWith('%') ? spec : spec[4..];
            if (body.Length == 0) throw new FormatException("fmt: needs a format, e.g. fmt:%ts %sa %da %byt");
            return new NfdumpFormat(body, plainNumbers, longV6: wholeV6);
        }
        var longV6 = spec.Length > 2 && spec.EndsWith('6');
        var name = longV6 ? spec[..^1] : spec;
        if (!Predefined.TryGetValue(name, out var format)) throw new FormatException($"unknown output format '{spec}': expected one of {string.Join(", ", Predefined.Keys)} (each also with 6), or fmt:...");
        return new NfdumpFormat(format, plainNumbers, longV6 || wholeV6);
    }

    /// <summary>True for the names this class answers: predefined formats and fmt: strings.</summary>
    public static bool IsNfdumpFormat(string spec) =>
        spec.StartsWith("fmt:", StringComparison.OrdinalIgnoreCase) || spec.StartsWith('%') ||
        Predefined.ContainsKey(spec.Length > 2 && spec.EndsWith('6') ? spec[..^1] : spec);

    /// <summary>nfdump replaces <c>%line</c>, <c>%long</c> ... inside a fmt: string by the predefined format.</summary>
    private static string ExpandNamed(string format)
    {
        foreach (var (name, value) in Predefined)
        {
            var at = format.IndexOf("%" + name, StringComparison.Ordinal);
            if (at >= 0 && (at + name.Length + 1 >= format.Length || !char.IsAsciiLetter(format[at + name.Length + 1])))
                format = string.Concat(format.AsSpan(0, at), value, format.AsSpan(at + name.Length + 1));
        }
        return format;
    }

    /// <summary>
    /// Writes one row. <paramref name="r"/> holds the flow (for aggregates, the first flow of the group with the
    /// group's sums, times and flags in it); <see cref="FlowRecord.RevBytes"/> and <see cref="FlowRecord.RevPackets"/>
    /// are the reverse direction's; <paramref name="flows"/> is the number of flows the row stands for.
    /// </summary>
    public void Write(Utf8TextWriter output, in FlowRecord r, ulong flows)
    {
        var line = _line.Clear();
        var first = r.Start / 1000;
        var last = r.End / 1000;
        var duration = (last - first) / 1000.0;
        foreach (var (element, text) in _parts)
        {
            if (element == Element.Text)
            {
                line.Append(text!);
                continue;
            }
            WriteElement(line, element, r, flows, first, last, duration);
        }
        line.Append('\n');
        // One encoder across the builder's chunks: a surrogate pair of the format's text may straddle two.
        var remaining = line.Length;
        foreach (var chunk in line.GetChunks())
        {
            remaining -= chunk.Length;
            var need = _encoder.GetByteCount(chunk.Span, flush: remaining == 0);
            if (_bytes.Length < need) _bytes = new byte[need * 2];
            output.Raw(_bytes.AsSpan(0, _encoder.GetBytes(chunk.Span, _bytes, flush: remaining == 0)));
        }
    }

    /// <summary>nfdump's summary line over the rows that passed the filter.</summary>
    public static string Summary(ulong flows, ulong bytes, ulong packets, long firstMs, long lastMs, bool plainNumbers)
    {
        ulong bps = 0, pps = 0, bpp = 0;
        var duration = lastMs > 0 ? (lastMs - firstMs) / 1000.0 : 0;
        if (duration > 0)
        {
            bps = (ulong)((bytes << 3) / duration);
            pps = (ulong)(packets / duration);
            bpp = packets > 0 ? bytes / packets : 0;
        }
        return $"Summary: total flows: {flows}, total bytes: {Number(bytes, plainNumbers, fixedWidth: false)}, total packets: {Number(packets, plainNumbers, fixedWidth: false)}, " +
               $"avg bps: {Number(bps, plainNumbers, fixedWidth: false)}, avg pps: {Number(pps, plainNumbers, fixedWidth: false)}, avg bpp: {Number(bpp, plainNumbers, fixedWidth: false)}";
    }

    /// <summary>nfdump's format_number: plain, or scaled to M, G, T (powers of 1000) with one decimal.</summary>
    public static string Number(ulong value, bool plain, bool fixedWidth)
    {
        if (plain) return value.ToString(CultureInfo.InvariantCulture);
        double f = value;
        var (scale, unit) = f >= 1e12 ? (1e12, " T") : f >= 1e9 ? (1e9, " G") : f >= 1e6 ? (1e6, " M") : (0, "");
        if (scale == 0) return fixedWidth ? value.ToString(CultureInfo.InvariantCulture).PadLeft(4) : value.ToString(CultureInfo.InvariantCulture);
        var text = OneDecimal(f / scale);
        return (fixedWidth ? text.PadLeft(5) : text) + unit;
    }

    /// <summary>printf's %.1f: correctly rounded, exact ties (x.25, x.75) to even as glibc does.</summary>
    private static string OneDecimal(double q)
    {
        var quarters = q * 4;
        if (quarters == Math.Floor(quarters) && ((long)quarters & 1) == 1)
        {
            var down = Math.Floor(q * 10);
            var tenths = ((long)down & 1) == 0 ? down : down + 1;
            return (tenths / 10).ToString("F1", CultureInfo.InvariantCulture);
        }
        return q.ToString("F1", CultureInfo.InvariantCulture);
    }
}
