using BenchmarkDotNet.Running;

namespace Flowline.Bench;

public static class Program
{
    /// <summary>
    /// `make-pcap CAPTURE OUTPUT COUNT` writes a large capture for whole-process timing;
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
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
