using System.Text;
using System.Text.RegularExpressions;
using Flowline.Records;

namespace Flowline.Cli.Completion;

/// <summary>
/// `flowline completion bash|zsh|fish`: a completion script for the shell, made from the command table —
/// the verbs, their subcommands, and the options each verb's --help documents (so the two never disagree).
/// Options whose value is a FILE, DIR or capture complete file names.
/// </summary>
internal static partial class CompletionCommand
{
    public const string Help = """
        Usage: flowline completion bash|zsh|fish

        Prints a completion script for the shell: the commands, their subcommands and the options their
        --help documents; options that take a FILE or DIR complete file names.

          bash   source it, or install it as /usr/share/bash-completion/completions/flowline
                 (the Debian package does):  source <(flowline completion bash)
          zsh    save it as _flowline in a directory of $fpath, then run compinit
          fish   save it as ~/.config/fish/completions/flowline.fish
        """;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args is ["--help" or "-h"])
        {
            HelpText.Print(stdout, Help);
            return 0;
        }
        var script = args switch
        {
            ["bash"] => Bash(),
            ["zsh"] => Zsh(),
            ["fish"] => Fish(),
            _ => null,
        };
        if (script is null)
        {
            stderr.WriteLine("flowline completion: give one shell: bash, zsh or fish");
            return 2;
        }
        stdout.Write(script);
        return 0;
    }

    /// <summary>A verb's options as its --help documents them (long and short), and those of them that take a path.</summary>
    internal static (IReadOnlyList<string> Options, IReadOnlyList<string> PathOptions) OptionsOf(CliCommand command)
    {
        var options = LongOption().Matches(command.Help).Select(m => m.Groups[1].Value)
            .Concat(ShortOption().Matches(command.Help).Select(m => m.Groups[1].Value))
            .Append("--help").Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var paths = PathOption().Matches(command.Help).Select(m => m.Groups[1].Value).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        return (options, paths);
    }

    [GeneratedRegex(@"(?<![\w-])(--[a-z][a-z0-9-]*)")]
    private static partial Regex LongOption();

    [GeneratedRegex(@"(?<=[\s\[|])(-[a-zA-Z])(?=[\s\]|,])")]
    private static partial Regex ShortOption();

    [GeneratedRegex(@"(?<![\w-])(--[a-z][a-z0-9-]*)[ =](?:[A-Z_]*FILE|[A-Z_]*DIR|CAPTURE|PCAP|PATH)\b")]
    private static partial Regex PathOption();

    private static string Words(IEnumerable<string> words) => string.Join(' ', words);

    private static string Bash()
    {
        var s = new StringBuilder();
        s.Append("# bash completion for flowline (flowline completion bash)\n");
        s.Append("_flowline() {\n");
        s.Append("  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n");
        s.Append("  if [ \"$COMP_CWORD\" -eq 1 ]; then\n");
        s.Append($"    COMPREPLY=($(compgen -W \"{Words(Program.Commands.Select(c => c.Name))} help\" -- \"$cur\"))\n");
        s.Append("    return 0\n  fi\n");
        s.Append("  local subs=\"\" actions=\"\" opts=\"\" paths=\"\"\n");
        s.Append("  case \"${COMP_WORDS[1]}\" in\n");
        foreach (var c in Program.Commands)
        {
            var (options, paths) = OptionsOf(c);
            s.Append($"    {c.Name}) subs=\"{Words(c.Subcommands ?? [])}\" actions=\"{Words(c.Actions ?? [])}\" opts=\"{Words(options)}\" paths=\"{Words(paths)}\" ;;\n");
        }
        s.Append("    *) return 0 ;;\n  esac\n");
        s.Append("  if [ -n \"$prev\" ] && [[ \" $paths \" == *\" $prev \"* ]]; then\n");
        s.Append("    COMPREPLY=($(compgen -f -- \"$cur\"))\n    return 0\n  fi\n");
        s.Append("  if [ \"$COMP_CWORD\" -eq 2 ] && [ -n \"$subs\" ] && [[ \"$cur\" != -* ]]; then\n");
        s.Append("    COMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))\n    return 0\n  fi\n");
        s.Append("  if [ \"$COMP_CWORD\" -eq 3 ] && [ -n \"$actions\" ] && [[ \" $subs \" == *\" ${COMP_WORDS[2]} \"* ]] && [[ \"$cur\" != -* ]]; then\n");
        s.Append("    COMPREPLY=($(compgen -W \"$actions\" -- \"$cur\"))\n    return 0\n  fi\n");
        s.Append("  if [[ \"$cur\" == -* ]]; then\n");
        s.Append("    COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n    return 0\n  fi\n");
        s.Append("  COMPREPLY=($(compgen -f -- \"$cur\"))\n");
        s.Append("}\n");
        s.Append("complete -F _flowline flowline\n");
        return s.ToString();
    }

    private static string Zsh()
    {
        var s = new StringBuilder();
        s.Append("#compdef flowline\n# zsh completion for flowline (flowline completion zsh)\n");
        s.Append("_flowline() {\n");
        s.Append("  local -a commands subs actions opts paths\n");
        s.Append("  commands=(\n");
        foreach (var c in Program.Commands) s.Append($"    '{c.Name}:{ZshQuote(c.Summary)}'\n");
        s.Append("  )\n");
        s.Append("  if (( CURRENT == 2 )); then\n    _describe -t commands 'flowline command' commands\n    return\n  fi\n");
        s.Append("  case ${words[2]} in\n");
        foreach (var c in Program.Commands)
        {
            var (options, paths) = OptionsOf(c);
            s.Append($"    {c.Name}) subs=({Words(c.Subcommands ?? [])}) actions=({Words(c.Actions ?? [])}) opts=({Words(options)}) paths=({Words(paths)}) ;;\n");
        }
        s.Append("    *) return 1 ;;\n  esac\n");
        s.Append("  if (( ${paths[(Ie)${words[CURRENT-1]}]} )); then\n    _files\n    return\n  fi\n");
        s.Append("  if (( CURRENT == 3 )) && (( ${#subs} )) && [[ ${words[CURRENT]} != -* ]]; then\n    compadd -a subs\n    return\n  fi\n");
        s.Append("  if (( CURRENT == 4 )) && (( ${#actions} )) && (( ${subs[(Ie)${words[3]}]} )) && [[ ${words[CURRENT]} != -* ]]; then\n    compadd -a actions\n    return\n  fi\n");
        s.Append("  if [[ ${words[CURRENT]} == -* ]]; then\n    compadd -a opts\n    return\n  fi\n");
        s.Append("  _files\n");
        s.Append("}\n");
        s.Append("if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n  _flowline \"$@\"\nelse\n  compdef _flowline flowline\nfi\n");
        return s.ToString();
    }

    private static string ZshQuote(string text) => text.Replace("'", "'\\''", StringComparison.Ordinal).Replace(":", "\\:", StringComparison.Ordinal);

    private static string Fish()
    {
        var s = new StringBuilder();
        s.Append("# fish completion for flowline (flowline completion fish)\n");
        s.Append("complete -c flowline -f\n");
        var verbs = Words(Program.Commands.Select(c => c.Name));
        foreach (var c in Program.Commands)
        {
            s.Append($"complete -c flowline -n 'not __fish_seen_subcommand_from {verbs}' -a {c.Name} -d {FishQuote(c.Summary)}\n");
            var when = $"__fish_seen_subcommand_from {c.Name}";
            if (c.Subcommands is { Length: > 0 } subs)
            {
                s.Append($"complete -c flowline -n '{when}; and not __fish_seen_subcommand_from {Words(subs)}' -a '{Words(subs)}'\n");
                if (c.Actions is { Length: > 0 } actions)
                {
                    s.Append($"complete -c flowline -n '{when}; and __fish_seen_subcommand_from {Words(subs)}; and not __fish_seen_subcommand_from {Words(actions)}' -a '{Words(actions)}'\n");
                }
            }
            var (options, paths) = OptionsOf(c);
            foreach (var o in options)
            {
                var flag = o.StartsWith("--", StringComparison.Ordinal) ? $"-l {o[2..]}" : $"-s {o[1..]}";
                s.Append($"complete -c flowline -n '{when}' {flag}{(paths.Contains(o) ? " -r -F" : "")}\n");
            }
        }
        return s.ToString();
    }

    private static string FishQuote(string text) => "'" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
