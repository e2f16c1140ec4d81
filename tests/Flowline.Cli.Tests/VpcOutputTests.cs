using System.Globalization;

namespace Flowline.Cli.Tests;

/// <summary>`flowline query -o vpc`: AWS VPC flow-log lines from the store, the field list choosing the format version.</summary>
public sealed class VpcOutputTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-vpc-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Every_stored_flow_is_one_line_with_the_fields_asked_for()
    {
        var pcap = Path.Combine(_dir.FullName, "g.pcap");
        var data = Path.Combine(_dir.FullName, "data");
        Assert.Equal(0, FlowlineProcess.RunFlowline(["gen", "--protocol", "ipfix", "--count", "5000", "--pcap", pcap, "-q"]).ExitCode);
        var import = FlowlineProcess.RunFlowline(["import", "--pcap", pcap, "--data-dir", data]);
        Assert.True(import.ExitCode == 0, import.Stderr);

        var vpc = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-o", "vpc"]);
        Assert.True(vpc.ExitCode == 0, vpc.Stderr);
        var lines = vpc.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status", lines[0]);
        Assert.Equal(5001, lines.Length);
        Assert.All(lines.Skip(1), l => Assert.Matches(@"^2 - - [0-9a-f.:]+ [0-9a-f.:]+ \d+ \d+ (6|17|1|58) \d+ \d+ \d{10} \d{10} - OK$", l));
        // The same bytes and packets as the store's own aggregate.
        var csv = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-A", "proto", "-o", "csv"]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(l => l.Split(',')).ToList();
        long Sum(IEnumerable<string> values) => values.Sum(v => long.Parse(v, CultureInfo.InvariantCulture));
        Assert.Equal(Sum(csv.Select(c => c[1])), Sum(lines.Skip(1).Select(l => l.Split(' ')[9])));
        Assert.Equal(Sum(csv.Select(c => c[2])), Sum(lines.Skip(1).Select(l => l.Split(' ')[8])));

        // A field of version 5 makes every line version 5; TCP flags and the address type come along.
        var v5 = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-o", "vpc", "--fields", "version,srcaddr,tcp-flags,type,flow-direction", "proto tcp"]);
        Assert.True(v5.ExitCode == 0, v5.Stderr);
        var v5lines = v5.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("version srcaddr tcp-flags type flow-direction", v5lines[0]);
        Assert.Equal(long.Parse(csv.Single(c => c[0] == "6")[3], CultureInfo.InvariantCulture), v5lines.Length - 1);
        Assert.All(v5lines.Skip(1), l => Assert.Matches(@"^5 \S+ \d+ IPv[46] -$", l));
        Assert.Contains(v5lines, l => l.EndsWith(" IPv6 -", StringComparison.Ordinal));
        // AWS reports FIN 1, SYN 2, RST 4 and SYN-ACK 18, OR-ed: never ACK, PSH or URG alone.
        var flags = v5lines.Skip(1).Select(l => int.Parse(l.Split(' ')[2], CultureInfo.InvariantCulture)).ToList();
        Assert.All(flags, f => Assert.True((f & ~0x17) == 0 && ((f & 0x10) == 0 || (f & 0x02) != 0), $"tcp-flags {f}"));
        Assert.Contains(flags, f => f != 0);
        Assert.Equal(19UL, Query.FlowLogFormats.VpcTcpFlags(0x1B, 443, 50123)); // the server's SYN-ACK, its data and FIN
        Assert.Equal(3UL, Query.FlowLogFormats.VpcTcpFlags(0x1B, 50123, 443)); // the client's SYN, ACKs and FIN
        Assert.Equal(4UL, Query.FlowLogFormats.VpcTcpFlags(0x14, 443, 50123));
        Assert.Equal(0UL, Query.FlowLogFormats.VpcTcpFlags(0x18, 443, 50123));

        var bad = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-o", "vpc", "--fields", "version,colour"]);
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("'colour' is not a VPC flow-log field", bad.Stderr, StringComparison.Ordinal);
        bad = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-o", "vpc", "--fields", "version,srcaddr,srcaddr"]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("'srcaddr' is given twice", bad.Stderr, StringComparison.Ordinal);
        bad = FlowlineProcess.RunFlowline(["query", "--data-dir", data, "-o", "vpc", "-A", "proto"]);
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("does not combine with -A", bad.Stderr, StringComparison.Ordinal);
    }
}
