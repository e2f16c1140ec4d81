using Flowline.Api;
using Flowline.Records;

namespace Flowline.Cli.Api;

/// <summary>`flowline keys`: access keys for the flow-log API, and the admin password's hash.</summary>
internal static class KeysCommand
{
    public const string Help = """
        Usage: flowline keys create --account acc-… [--admin | --agent NAME] [--data-dir DIR] [--key-file FILE]
               flowline keys list [--data-dir DIR] [--key-file FILE]
               flowline keys revoke KEY_ID [--data-dir DIR] [--key-file FILE]
               flowline keys hash-password          (reads the password from standard input)

        Access keys sign requests to the flow-log API of `flowline serve` (docs/API.md). Each key belongs to
        one account and reads only that account's flows; an --admin key reads other accounts too, but only
        when the request also carries the admin password. Keys live in the data directory (default: ./data,
        or FLOWLINE_DATA_DIR): keys.json, with every secret encrypted under keys.key (mode 0600), or under the
        file --key-file names (FLOWLINE_KEY_FILE; serve's key_file), kept outside the data directory so that a
        copy of it opens no secret. A running server sees new and revoked keys at the next request.
        An --agent key is what `flowline agent --name NAME` signs its session batches with: it speaks for that
        agent alone and reads nothing.

          create        makes a key and prints its id and secret; the secret is shown only this once
          list          every key: id, account, role, created, revoked
          revoke        a revoked key is refused from then on (kept, so it can be listed)
          hash-password prints the salted hash of the admin password (one line from standard input) to
                        put in the configuration as admin_password_hash
        """;

    private static string Role(AccessKey k) => k.Admin ? "admin" : k.Agent is { } a ? "agent:" + a : "tenant";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, TextReader stdin)
    {
        if (args.Length == 0 || args.Contains("--help") || args.Contains("-h"))
        {
            HelpText.Print(stdout, Help);
            return args.Length == 0 ? 2 : 0;
        }
        string? account = null, dataDir = null, agent = null, keyFile = null;
        var admin = false;
        var positional = new List<string>();
        try
        {
            for (var i = 1; i < args.Length; i++)
            {
                var a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
                switch (a)
                {
                    case "--account": account = Next(); break;
                    case "--admin": admin = true; break;
                    case "--data-dir": dataDir = Next(); break;
                    case "--agent": agent = Next(); break;
                    case "--key-file": keyFile = Next(); break;
                    default:
                        if (a.StartsWith('-')) throw new ArgumentException($"unknown option {a} (see `flowline keys --help`)");
                        positional.Add(a);
                        break;
                }
            }
            dataDir ??= Environment.GetEnvironmentVariable("FLOWLINE_DATA_DIR") is { Length: > 0 } d ? d : "data";
            keyFile ??= Environment.GetEnvironmentVariable("FLOWLINE_KEY_FILE") is { Length: > 0 } kf ? kf : null;
            switch (args[0])
            {
                case "create":
                {
                    if (account is null) throw new ArgumentException("create needs --account acc-…");
                    if (positional.Count > 0) throw new ArgumentException($"unexpected '{positional[0]}'");
                    var key = KeyStore.Open(dataDir, keyFile).Create(account, admin, agent);
                    new AuditLog(dataDir).Write(new AuditEntry(DateTimeOffset.UtcNow, "key-created", key.Id, key.Account, key.Account, "done", "cli", Role(key)));
                    stdout.WriteLine($"access key id:  {key.Id}");
                    stdout.WriteLine($"secret key:     {key.Secret}");
                    stdout.WriteLine($"account:        {key.Account}{(key.Admin ? " (admin)" : key.Agent is { } n ? $" (agent {n})" : "")}");
                    stdout.WriteLine();
                    if (key.Agent is { } name)
                    {
                        // An agent key reads nothing: it is for the agent's session batches alone.
                        stdout.WriteLine("The secret is not shown again. On the compute node, put it in a file only the agent reads (mode 0600) and run");
                        stdout.WriteLine($"  flowline agent --name {name} --collector URL --key-id {key.Id} --secret-file FILE ...");
                        return 0;
                    }
                    stdout.WriteLine("The secret is not shown again. For `flowline describe-flow-logs`:");
                    stdout.WriteLine($"  export FLOWLINE_ACCESS_KEY={key.Id}");
                    stdout.WriteLine($"  export FLOWLINE_SECRET_KEY={key.Secret}");
                    return 0;
                }
                case "list":
                {
                    var keys = KeyStore.Open(dataDir, keyFile).List();
                    var roleWidth = keys.Select(k => Role(k).Length).Append(6).Max();
                    stdout.WriteLine($"{"id",-20}  {"account",-24}  {"role".PadRight(roleWidth)}  {"created",-20}  revoked");
                    foreach (var k in keys)
                    {
                        stdout.WriteLine($"{k.Id,-20}  {k.Account,-24}  {Role(k).PadRight(roleWidth)}  {Time(k.Created),-20}  {(k.Revoked is { } r ? Time(r) : "-")}");
                    }
                    return 0;
                }
                case "revoke":
                {
                    if (positional.Count != 1) throw new ArgumentException("revoke needs one key id");
                    var store = KeyStore.Open(dataDir, keyFile);
                    var key = store.Find(positional[0]);
                    if (key is null || !store.Revoke(key.Id))
                    {
                        stderr.WriteLine($"flowline keys: no key {positional[0]} in {Path.GetFullPath(dataDir)}");
                        return 1;
                    }
                    new AuditLog(dataDir).Write(new AuditEntry(DateTimeOffset.UtcNow, "key-revoked", key.Id, key.Account, key.Account, "done", "cli", ""));
                    stdout.WriteLine($"revoked {key.Id} ({key.Account})");
                    return 0;
                }
                case "hash-password":
                {
                    var password = stdin.ReadLine();
                    if (string.IsNullOrEmpty(password)) throw new ArgumentException("hash-password reads the password from standard input; it was empty");
                    if (password.Length < 12) throw new ArgumentException("the admin password must be at least 12 characters");
                    stdout.WriteLine(AdminPassword.Hash(password));
                    return 0;
                }
                default:
                    throw new ArgumentException($"unknown subcommand '{args[0]}' (create, list, revoke, hash-password)");
            }
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"flowline keys: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            stderr.WriteLine($"flowline keys: {e.Message}");
            return 1;
        }
    }

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString(Signatures.ActionTimestampFormat, System.Globalization.CultureInfo.InvariantCulture);
}
