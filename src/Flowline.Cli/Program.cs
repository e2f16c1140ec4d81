using Flowline.Cli.Completion;
using Flowline.Cli.Decode;
using Flowline.Cli.Generate;
using Flowline.Cli.Store;
using Flowline.Records;

namespace Flowline.Cli;

/// <summary>One verb of the command line: its name, a line for the overview, its --help text and what runs it.</summary>
/// <param name="Subcommands">Words that may follow the verb (store stats, keys create), for completion.</param>
/// <param name="Actions">Words after a subcommand (`taas service create`), when the verb has them.</param>
internal sealed record CliCommand(string Name, string Summary, string Help, Func<string[], int> Run, string[]? Subcommands = null, string[]? Actions = null);

public static class Program
{
    /// <summary>Every verb, in the order the overview lists them: the usage text and the shell completions come from here.</summary>
    internal static readonly IReadOnlyList<CliCommand> Commands =
    [
        new("serve", "the collector: receive, decode and store flows; HTTP health, metrics and exporters",
            Flowline.Server.ServeCommand.Help, a => Flowline.Server.ServeCommand.Run(a, Console.Error)),
        new("ovs", "point an Open vSwitch bridge's sFlow, NetFlow and IPFIX export at a collector",
            Ovs.OvsCommand.Help, a => Ovs.OvsCommand.Run(a, Console.Error), ["configure", "clear", "show"]),
        new("decode", "decode sFlow v5, NetFlow v5/v9 and IPFIX from a capture or a UDP socket",
            DecodeOptions.Help, a => DecodeCommand.Run(a, Console.Error)),
        new("import", "decode captures into the embedded store", ImportCommand.Help, a => ImportCommand.Run(a, Console.Error)),
        new("query", "filter, list, aggregate and rank stored flows (nfdump-style filters)", QueryCommand.Help, a => QueryCommand.Run(a, Console.Error)),
        new("store", "stats, verify, compact and expire the embedded store", StoreCommand.Help, a => StoreCommand.Run(a, Console.Error),
            ["stats", "verify", "expire", "compact"]),
        new("clickhouse", "create, check and expire the flow tables of a ClickHouse server or cluster", ClickHouseCommand.Help,
            a => ClickHouseCommand.Run(a, Console.Error), ["init", "stats", "verify", "expire"]),
        new("keys", "access keys for the flow-log API, and the admin password's hash", Api.KeysCommand.Help,
            a => Api.KeysCommand.Run(a, Console.Out, Console.Error, Console.In), ["create", "list", "revoke", "hash-password"]),
        new("describe-flow-logs", "read a period of flow logs from a server's DescribeFlowLog API into one file",
            Api.DescribeFlowLogsCommand.Help, a => Api.DescribeFlowLogsCommand.Run(a, Console.Out, Console.Error)),
        new("sessions", "stitch stored flows into bidirectional sessions and SessionEndpoints", SessionsCommand.Help, a => SessionsCommand.Run(a, Console.Error)),
        new("agent", "on a compute node: sessions from the local switch, shipped to a collector every 2 s",
            Agent.AgentCommand.Help, a => Agent.AgentCommand.Run(a, Console.Error)),
        new("taas", "Tap-as-a-Service: mirror a port's packets to a monitoring port or a remote analyzer",
            Taas.TaasCommand.Help, a => Taas.TaasCommand.Run(a, Console.Out, Console.Error), ["service", "flow", "mirror"],
            ["create", "list", "show", "update", "delete"]),
        new("relay", "carry UDP datagrams through a pipe as hex lines (sFlow over ssh)", Relay.RelayCommand.Help, a => Relay.RelayCommand.Run(a, Console.Error)),
        new("gen", "generate reproducible synthetic sFlow, NetFlow v5/v9 or IPFIX exports", GenCommand.Help, a => GenCommand.Run(a, Console.Error)),
        new("fields", "list the canonical flow record fields", "Usage: flowline fields\n\nLists the canonical flow record fields with what each holds.\n", _ => Fields()),
        new("completion", "print a shell completion script: bash, zsh or fish", CompletionCommand.Help, a => CompletionCommand.Run(a, Console.Out, Console.Error),
            ["bash", "zsh", "fish"]),
        new("version", "print the version", "Usage: flowline version\n", _ => Version()),
    ];

    internal static string Usage
    {
        get
        {
            var s = new System.Text.StringBuilder("""
                flowline — network flow visibility for multi-tenant clouds

                Usage: flowline <command> [options]

                Commands:

                """);
            foreach (var c in Commands)
            {
                s.Append(c.Name.Length <= 8 ? $"  {c.Name,-8}  {c.Summary}\n" : $"  {c.Name}\n            {c.Summary}\n");
            }
            s.Append("\n`flowline <command> --help` explains a command.\n");
            return s.ToString();
        }
    }

    public static int Main(string[] args)
    {
        // A query holds its range's segments open, serve its sockets, segments and clients: the hard limit, not the soft.
        OpenFileLimit.RaiseToHard();
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            HelpText.Print(Console.Out, Usage);
            return args.Length == 0 ? 2 : 0;
        }
        if (args[0] == "--version") return Version();
        if (Commands.FirstOrDefault(c => c.Name == args[0]) is { } command)
        {
            try
            {
                return command.Run(args[1..]);
            }
            catch (IOException e) when (IsBrokenPipe(e))
            {
                // The reader of a pipe the output goes to went away: stop quietly.
                return 0;
            }
            catch (IOException e)
            {
                // A full disk, a vanished directory, a device error: said in one line, not as a crash.
                Console.Error.WriteLine($"flowline {command.Name}: {e.Message}");
                return 1;
            }
            catch (UnauthorizedAccessException e)
            {
                // A directory or file this user may not write (a store owned by the service's user, say).
                Console.Error.WriteLine($"flowline {command.Name}: {e.Message} (run it as a user that may, e.g. the one that owns the directory)");
                return 2;
            }
        }
        Console.Error.WriteLine($"flowline: unknown command '{args[0]}'");
        HelpText.Print(Console.Error, Usage);
        return 2;
    }

    /// <summary>Whether a write failed because the reading end of a pipe was closed (EPIPE).</summary>
    internal static bool IsBrokenPipe(IOException e) => e.HResult == 32 || e.Message.Contains("Broken pipe", StringComparison.OrdinalIgnoreCase);

    private static int Fields()
    {
        var width = FlowFields.All.Max(f => FlowFields.Name(f).Length) + 2;
        foreach (var f in FlowFields.All) Console.Out.WriteLine(FlowFields.Name(f).PadRight(width) + FlowFields.Description(f));
        return 0;
    }

    private static int Version()
    {
        Console.Out.WriteLine($"flowline {typeof(Program).Assembly.GetName().Version}");
        return 0;
    }
}
