using Flowline.Cli.Decode;
using Flowline.Cli.Generate;
using Flowline.Cli.Store;
using Flowline.Records;

namespace Flowline.Cli;

public static class Program
{
    private const string Usage = """
        flowline — network flow visibility for multi-tenant clouds

        Usage: flowline <command> [options]

        Commands:
          serve     the collector: receive, decode and store flows; HTTP health, metrics and exporters
          ovs       point an Open vSwitch bridge's sFlow, NetFlow and IPFIX export at a collector
          decode    decode sFlow v5, NetFlow v5/v9 and IPFIX from a capture or a UDP socket
          import    decode captures into the embedded store
          query     filter, list, aggregate and rank stored flows (nfdump-style filters)
          store     stats, verify and expire the embedded store
          keys      access keys for the flow-log API, and the admin password's hash
          describe-flow-logs
                    read a period of flow logs from a server's DescribeFlowLog API into one file
          sessions  stitch stored flows into bidirectional sessions and SessionEndpoints
          agent     on a compute node: sessions from the local switch, shipped to a collector every 2 s
          taas      Tap-as-a-Service: mirror a port's packets to a monitoring port or a remote analyzer
          relay     carry UDP datagrams through a pipe as hex lines (sFlow over ssh)
          gen       generate reproducible synthetic sFlow, NetFlow v9 or IPFIX exports
          fields    list the canonical flow record fields
          version   print the version

        `flowline <command> --help` explains a command.
        """;

    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            Console.Out.Write(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        var rest = args[1..];
        switch (args[0])
        {
            case "serve":
                return Flowline.Server.ServeCommand.Run(rest, Console.Error);
            case "ovs":
                return Ovs.OvsCommand.Run(rest, Console.Error);
            case "decode":
                return DecodeCommand.Run(rest, Console.Error);
            case "import":
                return ImportCommand.Run(rest, Console.Error);
            case "query":
                return QueryCommand.Run(rest, Console.Error);
            case "store":
                return StoreCommand.Run(rest, Console.Error);
            case "sessions":
                return SessionsCommand.Run(rest, Console.Error);
            case "agent":
                return Agent.AgentCommand.Run(rest, Console.Error);
            case "keys":
                return Api.KeysCommand.Run(rest, Console.Out, Console.Error, Console.In);
            case "describe-flow-logs":
                return Api.DescribeFlowLogsCommand.Run(rest, Console.Out, Console.Error);
            case "taas":
                return Taas.TaasCommand.Run(rest, Console.Out, Console.Error);
            case "gen":
                return GenCommand.Run(rest, Console.Error);
            case "relay":
                return Relay.RelayCommand.Run(rest, Console.Error);
            case "fields":
                foreach (var f in FlowFields.All)
                {
                    Console.Out.WriteLine($"{FlowFields.Name(f),-18} {FlowFields.Description(f)}");
                }
                return 0;
            case "version" or "--version":
                Console.Out.WriteLine($"flowline {typeof(Program).Assembly.GetName().Version}");
                return 0;
            default:
                Console.Error.WriteLine($"flowline: unknown command '{args[0]}'");
                Console.Error.Write(Usage);
                return 2;
        }
    }
}
