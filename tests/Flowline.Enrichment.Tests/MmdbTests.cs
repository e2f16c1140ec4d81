using Flowline.Records;

namespace Flowline.Enrichment.Tests;

/// <summary>
/// Countries from the installed <c>@ip-location-db/geo-whois-asn-country-mmdb</c> package (MaxMind.Db) equal
/// those of the same data's CSV files, address for address.
/// </summary>
public sealed class MmdbTests
{
    private static string Installed()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Flowline.slnx"))) return Path.Combine(dir.FullName, ".deps", "geo", "node_modules", "@ip-location-db");
        }
        throw new DirectoryNotFoundException("Flowline.slnx");
    }

    [Fact]
    public void The_mmdb_package_answers_as_the_csv_files_do()
    {
        var csv = GeoDatabase.Load(Installed(), GeoFormat.Csv);
        var mmdb = GeoDatabase.Load(Installed(), GeoFormat.Mmdb); // scripts/setup.sh installs the package
        Assert.Contains("geo-whois-asn-country-ipv4.mmdb", mmdb.Source, StringComparison.Ordinal);
        Assert.Equal(csv.AsnRanges, mmdb.AsnRanges); // AS numbers still from the asn CSV package
        Assert.Equal("US", CountryCode.Text(mmdb.Country(FlowAddress.Parse("8.8.8.8"))));
        Assert.Equal(0, mmdb.Country(FlowAddress.Parse("10.1.2.3")));
        var random = new Random(11);
        var differ = new List<string>();
        for (var i = 0; i < 300_000; i++)
        {
            var a = i % 4 == 0
                ? new FlowAddress(0x2000_0000_0000_0000UL | (ulong)random.NextInt64() >> 3, (ulong)random.NextInt64())
                : FlowAddress.FromV4((uint)random.NextInt64(1L << 32));
            if (csv.Country(a) != mmdb.Country(a) && differ.Count < 10) differ.Add($"{a}: csv {CountryCode.Text(csv.Country(a))}, mmdb {CountryCode.Text(mmdb.Country(a))}");
        }
        Assert.True(differ.Count == 0, string.Join("; ", differ));
    }

    [Fact]
    public void A_damaged_mmdb_file_is_refused_with_its_path_not_a_crash()
    {
        var real = File.ReadAllBytes(Directory.GetFiles(Path.Combine(Installed(), "geo-whois-asn-country-mmdb"), "*-ipv4.mmdb").Single());
        var random = new Random(5);
        var noise = new byte[4096];
        random.NextBytes(noise);
        var scribbled = (byte[])real.Clone();
        random.NextBytes(scribbled.AsSpan(0, real.Length / 2)); // the search tree and data garbled, the metadata at the end intact
        var cases = new List<(string Name, byte[] Bytes)>
        {
            ("empty", []), ("noise", noise), ("first half", real[..(real.Length / 2)]), ("without its last 100 bytes", real[..^100]), ("scribbled", scribbled),
        };
        for (var seed = 1; seed <= 3; seed++)
        {
            // The tree intact and the data section before the metadata damaged: values of the wrong type where a map is read.
            var damaged = (byte[])real.Clone();
            var r = new Random(seed);
            for (var i = 0; i < 20; i++) r.NextBytes(damaged.AsSpan(r.Next(real.Length - 6000, real.Length - 600), 8));
            cases.Add(($"data damaged (seed {seed})", damaged));
        }
        foreach (var (name, bytes) in cases)
        {
            var dir = Directory.CreateTempSubdirectory("flowline-mmdb-");
            try
            {
                var package = Directory.CreateDirectory(Path.Combine(dir.FullName, "x-country-mmdb")).FullName;
                var file = Path.Combine(package, "x.mmdb");
                File.WriteAllBytes(file, bytes);
                var e = Assert.Throws<InvalidDataException>(() => GeoDatabase.Load(dir.FullName, GeoFormat.Mmdb));
                Assert.True(e.Message.Contains(file, StringComparison.Ordinal), $"{name}: {e.Message}");
            }
            finally
            {
                dir.Delete(recursive: true);
            }
        }
    }

    [Fact]
    public void A_directory_without_an_mmdb_package_is_refused_with_what_to_install()
    {
        var dir = Directory.CreateTempSubdirectory("flowline-mmdb-");
        try
        {
            var e = Assert.Throws<DirectoryNotFoundException>(() => GeoDatabase.Load(dir.FullName, GeoFormat.Mmdb));
            Assert.Contains("geo-whois-asn-country-mmdb", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
