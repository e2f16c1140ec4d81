using System.Buffers.Binary;
using System.Text;
using Flowline.Records;
using Flowline.Wire.Encoders;

namespace Flowline.Wire.SFlow;

/// <summary>
/// The sFlow Host Structures with strings and lists (sflow.org/sflow_host.txt):
/// <code>
/// host_descr (0:2000):   string hostname&lt;64&gt;; opaque uuid[16]; machine_type machine_type; os_name os_name;
///                        string os_release&lt;32&gt;
/// host_adapters (0:2001): host_adapter adapters&lt;&gt;, each: unsigned int ifIndex; mac mac_address&lt;&gt;
///                        (a MAC is 6 bytes padded to 8, as XDR pads opaque&lt;6&gt;)
/// port_name (0:1005):    string name&lt;255&gt; (sflow.org/sflow_openflow.txt; Open vSwitch names its ports so)
/// </code>
/// Strings longer than the specification allows and adapter lists beyond <see cref="MaxAdapters"/> /
/// <see cref="MaxMacsPerAdapter"/> / <see cref="MaxMacsPerRecord"/> are refused as malformed.
/// </summary>
public static class SFlowHostStructures
{
    public const int MaxAdapters = 256, MaxMacsPerAdapter = 64;
    /// <summary>MAC addresses of all the adapters of one host_adapters record: a data source's last record is kept (/metric, Prometheus).</summary>
    public const int MaxMacsPerRecord = 256;
    /// <summary>port_name's limit (string name&lt;255&gt;).</summary>
    public const int MaxPortName = 255;

    /// <summary>Decodes a structured record into <paramref name="c"/>; returns -1, or the offset where it is malformed.</summary>
    public static int Decode(uint format, ReadOnlySpan<byte> rec, ref CounterRecord c)
    {
        return format switch
        {
            2000 => DecodeDescription(rec, ref c),
            2001 => DecodeAdapters(rec, ref c),
            1005 => DecodePortName(rec, ref c),
            _ => 0,
        };
    }

    private static int DecodeDescription(ReadOnlySpan<byte> rec, ref CounterRecord c)
    {
        var at = 0;
        if (!ReadString(rec, ref at, HostDescription.MaxHostname, out var hostname)) return at;
        if (rec.Length - at < 24) return at;
        var uuid = new Guid(rec.Slice(at, 16), bigEndian: true);
        var machine = BinaryPrimitives.ReadUInt32BigEndian(rec[(at + 16)..]);
        var os = BinaryPrimitives.ReadUInt32BigEndian(rec[(at + 20)..]);
        at += 24;
        if (!ReadString(rec, ref at, HostDescription.MaxOsRelease, out var release)) return at;
        c.Host = new HostDescription(hostname, uuid, machine, os, release);
        c.Values[0] = machine;
        c.Values[1] = os;
        c.Count = 2;
        return -1;
    }

    private static int DecodePortName(ReadOnlySpan<byte> rec, ref CounterRecord c)
    {
        var at = 0;
        if (!ReadString(rec, ref at, MaxPortName, out var name)) return at;
        c.PortName = name;
        return -1;
    }

    private static int DecodeAdapters(ReadOnlySpan<byte> rec, ref CounterRecord c)
    {
        if (rec.Length < 4) return 0;
        var count = BinaryPrimitives.ReadUInt32BigEndian(rec);
        if (count > MaxAdapters || count > (uint)(rec.Length - 4) / 8) return 0;
        var adapters = new HostAdapter[count];
        var at = 4;
        var total = 0;
        for (var i = 0; i < adapters.Length; i++)
        {
            if (rec.Length - at < 8) return at;
            var ifIndex = BinaryPrimitives.ReadUInt32BigEndian(rec[at..]);
            var macs = BinaryPrimitives.ReadUInt32BigEndian(rec[(at + 4)..]);
            at += 8;
            if (macs > MaxMacsPerAdapter || macs > (uint)(rec.Length - at) / 8 || (total += (int)macs) > MaxMacsPerRecord) return at - 4;
            var list = new ulong[macs];
            for (var m = 0; m < list.Length; m++, at += 8) list[m] = MacAddress.Read(rec.Slice(at, 6));
            adapters[i] = new HostAdapter(ifIndex, list);
        }
        c.Adapters = adapters;
        c.Values[0] = count;
        c.Count = 1;
        return -1;
    }

    /// <summary>An XDR string: length, bytes, padding to 4. Invalid UTF-8 is kept as replacement characters.</summary>
    private static bool ReadString(ReadOnlySpan<byte> rec, ref int at, int max, out string value)
    {
        value = "";
        if (rec.Length - at < 4) return false;
        var length = BinaryPrimitives.ReadUInt32BigEndian(rec[at..]);
        if (length > (uint)max || length > (uint)(rec.Length - at - 4)) return false;
        value = Interned(rec.Slice(at + 4, (int)length));
        at += 4 + (int)((length + 3) & ~3u);
        return at <= rec.Length;
    }

    /// <summary>Strings a decoding thread has read, kept to be handed out again: an agent repeats its names every counter sample.</summary>
    [ThreadStatic]
    private static HashSet<string>? t_strings;

    /// <summary>Names kept per thread at most (whatever agents send: the set starts again beyond it).</summary>
    private const int MaxInterned = 4096;

    /// <summary>The string of <paramref name="utf8"/> (at most <see cref="MaxPortName"/> bytes), the same instance as last time.</summary>
    private static string Interned(ReadOnlySpan<byte> utf8)
    {
        // Each byte decodes to at most one UTF-16 unit, a replacement character included.
        Span<char> chars = stackalloc char[MaxPortName];
        var n = Encoding.UTF8.GetChars(utf8, chars);
        var set = t_strings ??= new HashSet<string>(StringComparer.Ordinal);
        var lookup = set.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(chars[..n], out var known)) return known;
        if (set.Count >= MaxInterned) set.Clear();
        var value = new string(chars[..n]);
        set.Add(value);
        return value;
    }

    /// <summary>Writes a structured record's body (the inverse of <see cref="Decode"/>).</summary>
    public static void Encode(ref WireWriter w, in CounterRecord c)
    {
        if (c.Format == 2000)
        {
            var h = c.Host ?? throw new ArgumentException("a host_descr record needs its HostDescription");
            WriteString(ref w, h.Hostname, HostDescription.MaxHostname);
            Span<byte> uuid = stackalloc byte[16];
            h.Uuid.TryWriteBytes(uuid, bigEndian: true, out _);
            w.Bytes(uuid);
            w.U32(h.MachineType);
            w.U32(h.OsName);
            WriteString(ref w, h.OsRelease, HostDescription.MaxOsRelease);
            return;
        }
        if (c.Format == 1005)
        {
            WriteString(ref w, c.PortName ?? throw new ArgumentException("a port_name record needs its PortName"), MaxPortName);
            return;
        }
        var adapters = c.Adapters ?? throw new ArgumentException("a host_adapters record needs its adapters");
        w.U32((uint)adapters.Length);
        foreach (var a in adapters)
        {
            w.U32(a.IfIndex);
            w.U32((uint)a.Macs.Length);
            foreach (var mac in a.Macs)
            {
                w.Mac(mac);
                w.Zeros(2);
            }
        }
    }

    private static void WriteString(ref WireWriter w, string s, int max)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        if (bytes.Length > max) throw new ArgumentException($"'{s}' is longer than the {max} bytes the structure allows");
        w.U32((uint)bytes.Length);
        w.Bytes(bytes);
        w.Align4();
    }

    /// <summary>The values sflowtool prints for a structured record, in its order and with its names.</summary>
    public static IEnumerable<(string Name, string Value)> Fields(CounterRecord c)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        if (c.Host is { } h)
        {
            yield return ("hostname", h.Hostname);
            yield return ("UUID", h.Uuid.ToString());
            yield return ("machine_type", h.MachineType.ToString(inv));
            yield return ("os_name", h.OsName.ToString(inv));
            yield return ("os_release", h.OsRelease);
        }
        // sflowtool prints a name only when there is one.
        if (c.PortName is { Length: > 0 } name) yield return ("ifName", name);
        if (c.Adapters is { } adapters)
        {
            for (var i = 0; i < adapters.Length; i++)
            {
                yield return ($"adaptor_{i}_ifIndex", adapters[i].IfIndex.ToString(inv));
                yield return ($"adaptor_{i}_MACs", adapters[i].Macs.Length.ToString(inv));
                for (var m = 0; m < adapters[i].Macs.Length; m++) yield return ($"adaptor_{i}_MAC_{m}", adapters[i].Macs[m].ToString("x12", inv));
            }
        }
    }
}
