using System.Text.RegularExpressions;
using System.Xml.Linq;
using Flowline.Records;

namespace Flowline.Cli.Tests;

/// <summary>
/// The layers of docs/ARCHITECTURE.md as the project files and sources have them: references run one way,
/// ASP.NET Core only in the faces, engines named only by composition roots, files small enough to read.
/// </summary>
public sealed partial class ArchitectureTests
{
    private static readonly string Src = Path.Combine(FlowlineProcess.RepositoryRoot, "src");

    /// <summary>Each project's direct project references and whether it references ASP.NET Core itself.</summary>
    private static Dictionary<string, (HashSet<string> References, bool AspNetCore)> Projects() =>
        Directory.GetDirectories(Src).Select(d => Path.GetFileName(d)!).Where(n => File.Exists(Path.Combine(Src, n, n + ".csproj"))).ToDictionary(
            n => n.Replace("Flowline.", "", StringComparison.Ordinal),
            n =>
            {
                var xml = XDocument.Load(Path.Combine(Src, n, n + ".csproj"));
                var refs = xml.Descendants("ProjectReference").Select(r => Path.GetFileNameWithoutExtension(((string)r.Attribute("Include")!).Replace('\\', '/')).Replace("Flowline.", "", StringComparison.Ordinal)).ToHashSet();
                var asp = xml.Descendants("FrameworkReference").Any(r => ((string?)r.Attribute("Include"))?.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) == true);
                return (refs, asp);
            });

    private static HashSet<string> Closure(Dictionary<string, (HashSet<string> References, bool AspNetCore)> projects, string name)
    {
        var seen = new HashSet<string>();
        var stack = new Stack<string>([name]);
        while (stack.TryPop(out var p))
        {
            foreach (var r in projects[p].References)
            {
                if (seen.Add(r)) stack.Push(r);
            }
        }
        return seen;
    }

    [Fact]
    public void Fields_md_lists_every_canonical_field_in_order()
    {
        var listed = File.ReadLines(Path.Combine(FlowlineProcess.RepositoryRoot, "docs", "FIELDS.md"))
            .Select(l => Regex.Match(l, @"^\| `([a-z0-9_]+)` \|")).Where(m => m.Success).Select(m => m.Groups[1].Value);
        Assert.Equal(FlowFields.All.Select(FlowFields.Name), listed);
    }

    [Fact]
    public void Project_references_run_one_way_down_the_layers()
    {
        var projects = Projects();
        // What each layer may reference directly (docs/ARCHITECTURE.md).
        var allowed = new Dictionary<string, string[]>
        {
            ["Records"] = [],
            ["Wire"] = ["Records"],
            ["Query"] = ["Records"],
            ["Storage"] = ["Records", "Query"],
            ["Enrichment"] = ["Records", "Query"],
            ["Sessions"] = ["Records"],
            ["Realtime"] = ["Records", "Enrichment", "Query"],
            ["Ingest"] = ["Records", "Wire", "Query", "Enrichment", "Sessions", "Realtime"],
            ["Taas"] = ["Records", "Wire"],
            ["Mitigation"] = ["Records", "Wire", "Realtime", "Enrichment"],
            ["Api"] = ["Records", "Wire", "Query", "Enrichment", "Sessions", "Realtime", "Ingest", "Taas", "Mitigation"],
            ["Server"] = ["Api", "Ingest", "Storage", "Records", "Wire", "Query", "Enrichment", "Sessions", "Realtime", "Taas", "Mitigation"],
            ["Cli"] = ["Server", "Api", "Ingest", "Storage", "Records", "Wire", "Query", "Enrichment", "Sessions", "Realtime", "Taas", "Mitigation"],
        };
        Assert.Equal(allowed.Keys.Order(), projects.Keys.Order());
        foreach (var (name, (references, _)) in projects)
        {
            var extra = references.Except(allowed[name]).ToList();
            Assert.True(extra.Count == 0, $"{name} references {string.Join(", ", extra)}");
        }
        // Nothing below the faces reaches ASP.NET Core, even through another project; nothing references Cli or Server but Cli.
        foreach (var (name, _) in projects.Where(p => p.Key is not ("Api" or "Server" or "Cli")))
        {
            Assert.False(projects[name].AspNetCore || Closure(projects, name).Any(r => projects[r].AspNetCore), $"{name} reaches ASP.NET Core");
            Assert.DoesNotContain("Api", Closure(projects, name));
        }
        Assert.Equal(["Api"], projects.Where(p => p.Value.AspNetCore).Select(p => p.Key));
        Assert.Empty(projects.Where(p => p.Value.References.Contains("Cli")).Select(p => p.Key));
        Assert.Equal(["Cli"], projects.Where(p => p.Value.References.Contains("Server")).Select(p => p.Key));
    }

    private static IEnumerable<string> Sources(string project) =>
        Directory.EnumerateFiles(Path.Combine(Src, "Flowline." + project), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal));

    [Fact]
    public void Engines_and_the_filter_language_stay_in_their_rooms()
    {
        // Storage implements the contract; it never parses the filter language or formats answers for a face.
        foreach (var file in Sources("Storage"))
        {
            var text = File.ReadAllText(file);
            Assert.False(text.Contains("FilterParser", StringComparison.Ordinal) || text.Contains("FlowLogFormats", StringComparison.Ordinal), $"{file} uses Query beyond the contract");
        }
        // Only composition roots (serve's, and the offline commands of the CLI) name an engine.
        foreach (var project in new[] { "Ingest", "Api", "Sessions", "Realtime", "Enrichment", "Query" })
        {
            foreach (var file in Sources(project))
            {
                Assert.False(File.ReadAllText(file).Contains("EmbeddedStore", StringComparison.Ordinal), $"{file} names an engine");
            }
        }
    }

    [GeneratedRegex(@"^\s*(?:public|internal|file)?\s*(?:static\s+|sealed\s+|abstract\s+|partial\s+|readonly\s+|ref\s+)*(?:class|record|struct|interface|enum)\s+(\w+)", RegexOptions.Multiline)]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"^namespace\s+([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex Namespace();

    [Fact]
    public void No_source_file_is_over_500_lines_and_no_type_is_named_like_its_namespace()
    {
        foreach (var file in Directory.EnumerateFiles(Src, "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains("/obj/", StringComparison.Ordinal)))
        {
            var text = File.ReadAllText(file);
            var lines = text.Count(c => c == '\n');
            Assert.True(lines <= 500, $"{file}: {lines} lines");
            var ns = Namespace().Match(text) is { Success: true } m ? m.Groups[1].Value.Split('.')[^1] : null;
            foreach (Match t in TypeDeclaration().Matches(text))
            {
                Assert.True(t.Groups[1].Value != ns, $"{file}: type {t.Groups[1].Value} is named like its namespace");
            }
        }
    }
}
