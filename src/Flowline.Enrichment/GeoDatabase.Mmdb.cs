using System.Net;
using System.Net.Sockets;
using Flowline.Records;
using MaxMind.Db;

namespace Flowline.Enrichment;

/// <summary>Where country and AS come from: the CSV range files, or MaxMind DB files (<c>.mmdb</c>).</summary>
public enum GeoFormat { Csv, Mmdb }

/// <summary>
/// Countries from MaxMind DB files, read with MaxMind.Db: the <c>@ip-location-db/*-country-mmdb</c> packages
/// (a <c>country_code</c> per network, IPv4 and IPv6 files) or any MaxMind-format country database
/// (<c>country.iso_code</c>, e.g. GeoLite2-Country). Every network of the file is read once into the same
/// range tables the CSV files fill, so lookups cost the same whichever format is chosen. AS numbers come
/// from the <c>asn</c> CSV package (no AS database is packaged as mmdb), or from an <c>.mmdb</c> with
/// <c>autonomous_system_number</c> (GeoLite2-ASN) when one is given in the directory's <c>asn-mmdb</c> folder.
/// </summary>
public sealed partial class GeoDatabase
{
    /// <summary>Reads the first <c>*-country-mmdb</c> package (or <c>*.mmdb</c> country file) and the AS data of <paramref name="directory"/>.</summary>
    public static GeoDatabase Load(string directory, GeoFormat format)
    {
        if (format == GeoFormat.Csv) return Load(directory);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"no address database at {directory} (run scripts/setup.sh)");
        var packages = Directory.GetDirectories(directory).Order(StringComparer.Ordinal)
            .Where(d => Path.GetFileName(d).EndsWith("-country-mmdb", StringComparison.Ordinal)).ToList();
        var countryFiles = packages.Select(d => Directory.GetFiles(d, "*.mmdb").Order(StringComparer.Ordinal).ToArray()).FirstOrDefault(f => f.Length > 0)
            ?? throw new DirectoryNotFoundException(packages.Count == 0
                ? $"{directory} holds no *-country-mmdb package (scripts/setup.sh installs @ip-location-db/geo-whois-asn-country-mmdb)"
                : $"{string.Join(", ", packages)}: no .mmdb file in it (scripts/setup.sh installs @ip-location-db/geo-whois-asn-country-mmdb)");
        // A package ships the IPv4 and IPv6 halves and the two together: the halves are read when present.
        var halves = countryFiles.Where(f => f.EndsWith("-ipv4.mmdb", StringComparison.Ordinal) || f.EndsWith("-ipv6.mmdb", StringComparison.Ordinal)).ToArray();
        var country = ReadMmdb(halves.Length == 2 ? halves : countryFiles.Take(1).ToArray(), CountryOf);
        var asnMmdb = Path.Combine(directory, "asn-mmdb");
        Ranges<uint> asn;
        if (Directory.Exists(asnMmdb) && Directory.GetFiles(asnMmdb, "*.mmdb").Order(StringComparer.Ordinal).FirstOrDefault() is { } asnFile) asn = ReadMmdb([asnFile], AsnOf);
        else
        {
            string asn4 = Path.Combine(directory, "asn", "asn-ipv4-num.csv"), asn6 = Path.Combine(directory, "asn", "asn-ipv6.csv");
            asn = File.Exists(asn4) ? Ranges<uint>.Read(asn4, File.Exists(asn6) ? asn6 : null, ParseAsn) : Ranges<uint>.Empty;
        }
        return new GeoDatabase(country, asn, $"{string.Join(", ", countryFiles.Select(Path.GetFileName))} in {directory}");
    }

    private static ushort CountryOf(Dictionary<string, object> data, string path)
    {
        var code = data.TryGetValue("country_code", out var c) ? c as string
            : data.TryGetValue("country", out var o) && o is Dictionary<string, object> country && country.TryGetValue("iso_code", out var iso) ? iso as string : null;
        if (code is null) return 0;
        var packed = CountryCode.Pack(code);
        return packed != 0 ? packed : throw new InvalidDataException($"{path}: '{code}' is not a country code");
    }

    private static uint AsnOf(Dictionary<string, object> data, string path) =>
        data.TryGetValue("autonomous_system_number", out var n) ? Convert.ToUInt32(n, System.Globalization.CultureInfo.InvariantCulture) : 0;

    /// <summary>Every network of the files with a value, as ranges (IPv4 networks of an IPv6 file's IPv4 subtree as IPv4).</summary>
    private static Ranges<T> ReadMmdb<T>(string[] files, Func<Dictionary<string, object>, string, T> value) where T : struct
    {
        List<UInt128> s4 = [], e4 = [], s6 = [], e6 = [];
        List<T> x4 = [], x6 = [];
        foreach (var path in files)
        {
            try
            {
                ReadNetworks(path);
            }
            catch (Exception e) when (e is InvalidDatabaseException or DeserializationException or ArgumentException or InvalidCastException
                                           or OverflowException or IndexOutOfRangeException or FormatException or KeyNotFoundException)
            {
                // A truncated, empty, damaged or foreign file: MaxMind.Db's own exceptions (a value of the wrong type where
                // a map is read is a DeserializationException), or what its reader meets past a cut.
                throw new InvalidDataException($"{path} is not a readable MaxMind DB file: {e.Message}", e);
            }
        }
        return Ranges<T>.Build(s4, e4, x4, s6, e6, x6);

        void ReadNetworks(string path)
        {
            using var reader = new Reader(path, FileAccessMode.MemoryMapped);
            foreach (var node in reader.FindAll<Dictionary<string, object>>())
            {
                var v = value(node.Data, path);
                if (EqualityComparer<T>.Default.Equals(v, default)) continue;
                var start = node.Start;
                var bits = node.PrefixLength;
                if (start.AddressFamily == AddressFamily.InterNetworkV6 && bits >= 96 && (start.IsIPv4MappedToIPv6 || IsIpv4Subtree(start)))
                {
                    start = new IPAddress(start.GetAddressBytes()[12..]);
                    bits -= 96;
                }
                if (start.AddressFamily == AddressFamily.InterNetwork)
                {
                    var a = (UInt128)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(start.GetAddressBytes());
                    s4.Add(a);
                    e4.Add(a | (bits >= 32 ? 0 : (UInt128)(uint.MaxValue >> bits)));
                    x4.Add(v);
                }
                else
                {
                    var a = System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(start.GetAddressBytes());
                    s6.Add(a);
                    e6.Add(a | (bits >= 128 ? 0 : UInt128.MaxValue >> bits));
                    x6.Add(v);
                }
            }
        }
    }

    /// <summary>An address of ::/96, where MaxMind-format databases with both families keep the IPv4 tree.</summary>
    private static bool IsIpv4Subtree(IPAddress a)
    {
        var b = a.GetAddressBytes();
        for (var i = 0; i < 12; i++)
        {
            if (b[i] != 0) return false;
        }
        return true;
    }
}
