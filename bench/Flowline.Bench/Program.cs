using BenchmarkDotNet.Running;

namespace Flowline.Bench;

public static class Program
{
    /// <summary>
    /// `make-pcap CAPTURE OUTPUT COUNT` writes a large capture for whole-process timing;
    /// `commit-profile [ROWS] [ROUNDS] [INVENTORY]` times a group commit column by column;
    /// `enrich-profile INVENTORY [RECORDS]` times enrichment per record;
    /// `codec-profile DATA_DIR [ROUNDS]` compares the segment codecs on a store's columns;
    /// `session-profile INVENTORY [RECORDS] [EXPORT_RATE] [MAX_OPEN] [INPUT_SAMPLING]` times sessions per record (no store);
    /// `api-fill DIR FLOWS HOURS` and `api-sign ...` prepare bench/api-bench.sh;
    /// anything else goes to BenchmarkDotNet (e.g. --filter '*DecodeBenchmarks*').
    /// </summary>
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "make-pcap")
        {
            if (args.Length != 4 || !int.TryParse(args[3], out var count))
            {
                Console.Error.WriteLine("usage: make-pcap CAPTURE OUTPUT COUNT   (CAPTURE is a name in shared/captures, e.g. ovs_sflow_s1_h128_p5)");
                return 2;
            }
            PcapMaker.Make(args[1], args[2], count);
            return 0;
        }
        if (args.Length > 0 && args[0] == "commit-profile")
        {
            CommitProfile.Run(args.Length > 1 ? int.Parse(args[1]) : 262_144, args.Length > 2 ? int.Parse(args[2]) : 5, args.Length > 3 ? args[3] : null);
            return 0;
        }
        if (args.Length > 1 && args[0] == "session-profile")
        {
            SessionProfile.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : 8_000_000, args.Length > 3 ? double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 0,
                args.Length > 4 ? int.Parse(args[4]) : 1_000_000, args.Length > 5 ? int.Parse(args[5]) : 1);
            return 0;
        }
        if (args.Length > 1 && args[0] == "codec-profile")
        {
            CodecProfile.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : 3);
            return 0;
        }
        if (args.Length > 1 && args[0] == "enrich-profile")
        {
            EnrichProfile.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : 1_000_000);
            return 0;
        }
        if (args.Length == 4 && args[0] == "api-fill")
        {
            ApiFixture.Fill(args[1], int.Parse(args[2]), double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture));
            return 0;
        }
        if (args.Length >= 6 && args[0] == "api-sign")
        {
            ApiFixture.Sign(args);
            return 0;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
