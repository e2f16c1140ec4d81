using System.Globalization;
using System.Net;
using Flowline.Records;

namespace Flowline.Enrichment;

/// <summary>
/// Country and AS of public addresses, from the CSV range files of the <c>@ip-location-db</c> packages
/// (installed by scripts/setup.sh): a country package such as <c>geo-whois-asn-country</c>
/// (<c>start,end,CC</c>) and the <c>asn</c> package (<c>start,end,asn,organisation</c>). IPv4 files come as
/// integers (<c>*-ipv4-num.csv</c>), IPv6 as addresses. Lookups are binary searches over sorted ranges,
/// for IPv4 only among the ranges of the address's /16.
/// </summary>
public sealed partial class GeoDatabase
{
    private readonly Ranges<ushort> _country;
    private readonly Ranges<uint> _asn;

    private GeoDatabase(Ranges<ushort> country, Ranges<uint> asn, string source)
    {
        _country = country;
        _asn = asn;
        Source = source;
    }

    public static readonly GeoDatabase Empty = new(Ranges<ushort>.Empty, Ranges<uint>.Empty, "none");

    /// <summary>Where it was read from, and how many ranges it holds.</summary>
    public string Source { get; }

    public int CountryRanges => _country.Count;
    public int AsnRanges => _asn.Count;

    /// <summary>The country (packed, see <see cref="CountryCode"/>) of an address, 0 when unknown.</summary>
    public ushort Country(in FlowAddress a) => _country.Find(a);

    /// <summary>The AS number of an address, 0 when unknown.</summary>
    public uint Asn(in FlowAddress a) => _asn.Find(a);

    /// <summary>
    /// Country and AS of an address together, remembered per thread for the last few thousand addresses
    /// looked up: traffic to the internet goes to far fewer addresses than it has records, and a
    /// remembered answer costs one read where the range tables cost several scattered ones.
    /// </summary>
    public (ushort Country, uint Asn) Lookup(in FlowAddress a)
    {
        var memo = _memo;
        if (memo is null || !ReferenceEquals(memo.Owner, this)) _memo = memo = new Memo(this);
        ref var slot = ref memo.Slots[(int)(((a.Hi ^ a.Lo) * 0x9E37_79B9_7F4A_7C15UL) >> (64 - Memo.Bits))];
        if (slot.Filled && slot.Hi == a.Hi && slot.Lo == a.Lo) return (slot.Country, slot.Asn);
        var answer = (_country.Find(a), _asn.Find(a));
        slot = new MemoSlot { Hi = a.Hi, Lo = a.Lo, Country = answer.Item1, Asn = answer.Item2, Filled = true };
        return answer;
    }

    [ThreadStatic] private static Memo? _memo;

    private sealed class Memo(GeoDatabase owner)
    {
        public const int Bits = 12;
        public readonly GeoDatabase Owner = owner;
        public readonly MemoSlot[] Slots = new MemoSlot[1 << Bits];
    }

    private struct MemoSlot
    {
        public ulong Hi, Lo;
        public uint Asn;
        public ushort Country;
        public bool Filled;
    }

    /// <summary>
    /// The directory that holds the packages (<c>…/node_modules/@ip-location-db</c>): <paramref name="configured"/>,
    /// else <c>FLOWLINE_GEO_DIR</c>, else null.
    /// </summary>
    public static string? Locate(string? configured) =>
        configured ?? (Environment.GetEnvironmentVariable("FLOWLINE_GEO_DIR") is { Length: > 0 } env ? env : null);

    /// <summary>
    /// Reads the first country package found in <paramref name="directory"/> and the <c>asn</c> package.
    /// Throws <see cref="InvalidDataException"/> naming the file and line of a malformed entry, and
    /// <see cref="DirectoryNotFoundException"/> when neither package is there.
    /// </summary>
    public static GeoDatabase Load(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"no address database at {directory} (run scripts/setup.sh)");
        string? country4 = null, country6 = null;
        foreach (var package in Directory.GetDirectories(directory).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(package);
            if (!name.EndsWith("-country", StringComparison.Ordinal)) continue;
            var v4 = Path.Combine(package, name + "-ipv4-num.csv");
            if (!File.Exists(v4)) continue;
            country4 = v4;
            var v6 = Path.Combine(package, name + "-ipv6.csv");
            country6 = File.Exists(v6) ? v6 : null;
            break;
        }
        string asn4 = Path.Combine(directory, "asn", "asn-ipv4-num.csv"), asn6 = Path.Combine(directory, "asn", "asn-ipv6.csv");
        var hasAsn = File.Exists(asn4);
        if (country4 is null && !hasAsn) throw new DirectoryNotFoundException($"{directory} holds no @ip-location-db country or asn package (run scripts/setup.sh)");
        var country = country4 is null ? Ranges<ushort>.Empty : Ranges<ushort>.Read(country4, country6, ParseCountry);
        var asn = hasAsn ? Ranges<uint>.Read(asn4, File.Exists(asn6) ? asn6 : null, ParseAsn) : Ranges<uint>.Empty;
        return new GeoDatabase(country, asn, directory);
    }

    private static ushort ParseCountry(ReadOnlySpan<char> field)
    {
        var code = CountryCode.Pack(field);
        if (code == 0) throw new FormatException($"'{field}' is not a country code");
        return code;
    }

    private static uint ParseAsn(ReadOnlySpan<char> field) =>
        uint.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var asn) ? asn : throw new FormatException($"'{field}' is not an AS number");

    /// <summary>Sorted, non-overlapping address ranges with a value each.</summary>
    private sealed class Ranges<T> where T : struct
    {
        public static readonly Ranges<T> Empty = new([], [], [], [], [], []);
        private readonly uint[] _start4, _end4;
        private readonly T[] _value4;
        private readonly UInt128[] _start6, _end6;
        private readonly T[] _value6;
        /// <summary>
        /// For each IPv4 /16 p, how many ranges start below p.0.0 (entry 65536: all of them): the range
        /// holding an address of p is searched among a handful of ranges rather than all.
        /// </summary>
        private readonly int[] _below16;

        private Ranges(uint[] start4, uint[] end4, T[] value4, UInt128[] start6, UInt128[] end6, T[] value6)
        {
            (_start4, _end4, _value4, _start6, _end6, _value6) = (start4, end4, value4, start6, end6, value6);
            _below16 = new int[65537];
            var k = 0;
            for (var p = 0; p < 65536; p++)
            {
                while (k < start4.Length && start4[k] < (uint)p << 16) k++;
                _below16[p] = k;
            }
            _below16[65536] = start4.Length;
        }

        public int Count => _start4.Length + _start6.Length;

        public T Find(in FlowAddress a)
        {
            if (a.IsNone) return default;
            if (a.IsV4)
            {
                // Ranges starting below the address's /16 are all counted in _below16[p], and those starting
                // in a later /16 start above the address: the upper bound lies between the two.
                var p = a.V4 >> 16;
                var i = UpperBound(_start4, a.V4, _below16[p], _below16[p + 1]) - 1;
                return i >= 0 && a.V4 <= _end4[i] ? _value4[i] : default;
            }
            var v = new UInt128(a.Hi, a.Lo);
            var j = UpperBound(_start6, v, 0, _start6.Length) - 1;
            return j >= 0 && v <= _end6[j] ? _value6[j] : default;
        }

        /// <summary>The first index in [lo, hi] whose start is above <paramref name="v"/>, when all before lo are not and all from hi are.</summary>
        private static int UpperBound<TKey>(TKey[] starts, TKey v, int lo, int hi) where TKey : IComparable<TKey>
        {
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                if (starts[mid].CompareTo(v) <= 0) lo = mid + 1;
                else hi = mid;
            }
            return lo;
        }

        public delegate T Parse(ReadOnlySpan<char> field);

        public static Ranges<T> Read(string v4Path, string? v6Path, Parse parse)
        {
            var s4 = new List<uint>(1 << 19);
            var e4 = new List<uint>(1 << 19);
            var x4 = new List<T>(1 << 19);
            ReadFile(v4Path, parse, (start, end, value, line) =>
            {
                if (!uint.TryParse(start, NumberStyles.None, CultureInfo.InvariantCulture, out var a)
                    || !uint.TryParse(end, NumberStyles.None, CultureInfo.InvariantCulture, out var b) || b < a)
                {
                    throw new InvalidDataException($"{v4Path}:{line}: expected a range of IPv4 numbers");
                }
                s4.Add(a);
                e4.Add(b);
                x4.Add(value);
            });
            var s6 = new List<UInt128>();
            var e6 = new List<UInt128>();
            var x6 = new List<T>();
            if (v6Path is not null)
            {
                ReadFile(v6Path, parse, (start, end, value, line) =>
                {
                    if (!IPAddress.TryParse(start, out var a) || !IPAddress.TryParse(end, out var b)
                        || a.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
                    {
                        throw new InvalidDataException($"{v6Path}:{line}: expected a range of IPv6 addresses");
                    }
                    var fa = FlowAddress.FromIPAddress(a);
                    var fb = FlowAddress.FromIPAddress(b);
                    s6.Add(new UInt128(fa.Hi, fa.Lo));
                    e6.Add(new UInt128(fb.Hi, fb.Lo));
                    x6.Add(value);
                });
            }
            return Build(s4.ConvertAll(v => (UInt128)v), e4.ConvertAll(v => (UInt128)v), x4, s6, e6, x6);
        }

        /// <summary>The lookup table of IPv4 ranges (as numbers) and IPv6 ranges, which may nest: the narrowest wins.</summary>
        public static Ranges<T> Build(List<UInt128> s4, List<UInt128> e4, List<T> x4, List<UInt128> s6, List<UInt128> e6, List<T> x6)
        {
            var (fs4, fe4, fx4) = Flatten(s4, e4, x4);
            var (fs6, fe6, fx6) = Flatten(s6, e6, x6);
            return new Ranges<T>(fs4.ConvertAll(v => (uint)v).ToArray(), fe4.ConvertAll(v => (uint)v).ToArray(), [.. fx4], [.. fs6], [.. fe6], [.. fx6]);
        }

        /// <summary>
        /// Sorted, non-overlapping ranges from ranges that may nest (the packages list a few more specific
        /// ranges inside larger ones): every address gets the value of the narrowest range that holds it.
        /// </summary>
        private static (List<UInt128>, List<UInt128>, List<T>) Flatten(List<UInt128> starts, List<UInt128> ends, List<T> values)
        {
            var order = Enumerable.Range(0, starts.Count).OrderBy(i => starts[i]).ThenByDescending(i => ends[i]).ToArray();
            var points = new List<UInt128>(starts.Count * 2);
            foreach (var i in order)
            {
                points.Add(starts[i]);
                if (ends[i] != UInt128.MaxValue) points.Add(ends[i] + 1);
            }
            points.Sort();
            var s = new List<UInt128>(starts.Count);
            var e = new List<UInt128>(starts.Count);
            var x = new List<T>(starts.Count);
            var active = new List<int>();
            var next = 0;
            for (var p = 0; p < points.Count; p++)
            {
                var at = points[p];
                if (p > 0 && points[p - 1] == at) continue;
                while (next < order.Length && starts[order[next]] <= at) active.Add(order[next++]);
                active.RemoveAll(i => ends[i] < at);
                if (active.Count == 0) continue;
                var best = active[0];
                foreach (var i in active)
                {
                    if (ends[i] - starts[i] < ends[best] - starts[best]) best = i;
                }
                var q = p + 1;
                while (q < points.Count && points[q] == at) q++;
                var last = q < points.Count ? points[q] - 1 : ends[best];
                if (last > ends[best]) last = ends[best];
                if (x.Count > 0 && e[^1] + 1 == at && EqualityComparer<T>.Default.Equals(x[^1], values[best]))
                {
                    e[^1] = last; // the same value goes on
                    continue;
                }
                s.Add(at);
                e.Add(last);
                x.Add(values[best]);
            }
            return (s, e, x);
        }

        private delegate void Row(ReadOnlySpan<char> start, ReadOnlySpan<char> end, T value, int line);

        private static void ReadFile(string path, Parse parse, Row row)
        {
            using var reader = new StreamReader(path, System.Text.Encoding.UTF8, false, 1 << 16);
            var line = 0;
            while (reader.ReadLine() is { } text)
            {
                line++;
                if (text.Length == 0) continue;
                var s = text.AsSpan();
                var c1 = s.IndexOf(',');
                var c2 = c1 < 0 ? -1 : s[(c1 + 1)..].IndexOf(',');
                if (c2 < 0) throw new InvalidDataException($"{path}:{line}: expected start,end,value");
                c2 += c1 + 1;
                var rest = s[(c2 + 1)..];
                var c3 = rest.IndexOf(',');
                var field = c3 < 0 ? rest : rest[..c3];
                T value;
                try
                {
                    value = parse(field);
                }
                catch (FormatException e)
                {
                    throw new InvalidDataException($"{path}:{line}: {e.Message}");
                }
                row(s[..c1], s[(c1 + 1)..c2], value, line);
            }
        }
    }
}
