using Flowline.Records;

namespace Flowline.Sessions;

/// <summary>A security-logging rule: sessions admitted by <see cref="Rule"/> (a rule uuid, or * for any) are logged, the first of every <see cref="Rate"/>.</summary>
public sealed record SessionLogRule(string Rule, int Rate)
{
    public const string Any = "*";

    /// <summary>"RULE" or "RULE:RATE" (rate 1 when left out).</summary>
    public static SessionLogRule Parse(string text)
    {
        var colon = text.LastIndexOf(':');
        var rule = colon < 0 ? text.Trim() : text[..colon].Trim();
        var rate = 1;
        if (colon >= 0 && (!int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out rate) || rate < 1))
        {
            throw new FormatException($"'{text}': expected RULE or RULE:RATE with a rate of 1 or more (log the first of every RATE sessions)");
        }
        if (rule.Length == 0) throw new FormatException($"'{text}': the rule is empty (a rule uuid, or * for every rule)");
        return new SessionLogRule(rule, rate);
    }
}

/// <summary>
/// What happens to sessions at the end of each interval (seed 001): every session with traffic is offered
/// to the <see cref="SessionSampler"/> (sampled, and upscaled when kept below the threshold) and to the
/// logging rules (logged as counted). A logging rule logs the first of every R new sessions it admits, in
/// every interval they have traffic, and every session's teardown. The result is the interval's
/// SessionEndpoints, with sampled and logged counts apart.
/// </summary>
public sealed class SessionExporter(SessionSampler sampler, IReadOnlyList<SessionLogRule> logging, ISymbolNames names, RemoteTagLookup? remoteTags = null)
{
    private readonly Dictionary<string, long> _admitted = new(StringComparer.Ordinal);
    private readonly HashSet<Guid> _logging = [], _endLogged = [];

    public SessionSampler Sampler => sampler;

    /// <summary>Tags of remote addresses, when the inventory knows them.</summary>
    public RemoteTagLookup? RemoteTags => remoteTags;

    /// <summary>Sessions sampled and logged in all intervals so far.</summary>
    public long Sampled { get; private set; }
    public long Logged { get; private set; }

    /// <summary>Folds one interval: <paramref name="active"/> had traffic, <paramref name="ended"/> ended (idle or torn down) without any since.</summary>
    public EndpointAggregator Export(IReadOnlyList<Session> active, IReadOnlyList<Session> ended, double seconds)
    {
        var aggregator = new EndpointAggregator(remoteTags);
        foreach (var s in active)
        {
            var d = Decide(s, ended: false);
            if (d.Sampled || d.Logged) aggregator.Add(s, d.Sampled, d.Scale, d.Logged);
        }
        foreach (var s in ended)
        {
            var d = Decide(s, ended: true);
            if (d.Logged) aggregator.Add(s, sampled: false, 1, logged: true);
        }
        EndInterval(seconds);
        return aggregator;
    }

    /// <summary>
    /// What happens to one session of the interval: sampled (its counts multiplied by the scale) and/or
    /// logged. <paramref name="ended"/>: the session ended without traffic since the last interval, when
    /// only the log wants to hear of it.
    /// </summary>
    public (bool Sampled, double Scale, bool Logged) Decide(Session s, bool ended)
    {
        if (ended)
        {
            if (!ShouldLog(s, ended: true, forgotten: true)) return (false, 0, false);
            Logged++;
            return (false, 1, true);
        }
        var decision = sampler.Decide(s.TotalBytes);
        var logged = ShouldLog(s, ended: s.Teardown != 0, forgotten: false);
        if (decision.Export) Sampled++;
        if (logged) Logged++;
        return (decision.Export, decision.Scale, logged);
    }

    /// <summary>Solves the sampler's threshold for an interval of <paramref name="seconds"/> from the sizes the sessionizers measured.</summary>
    public void Plan(IEnumerable<Sessionizer> sessionizers, double seconds)
    {
        foreach (var s in sessionizers)
        {
            lock (s) s.Measure(sampler);
        }
        sampler.Plan(seconds);
    }

    /// <summary>Ends an interval of <paramref name="seconds"/>: the sampler adapts its threshold.</summary>
    public void EndInterval(double seconds) => sampler.EndInterval(seconds);

    /// <param name="ended">The session ended: a teardown seen with this interval's traffic, or the sessionizer forgot it.</param>
    /// <param name="forgotten">The sessionizer forgot the session (idle, or torn down in an earlier interval).</param>
    private bool ShouldLog(Session s, bool ended, bool forgotten)
    {
        if (logging.Count == 0 || RuleFor(s) is not { } rule) return false;
        s.EnsureFlowIds();
        var id = s.Forward.FlowId;
        if (s.First)
        {
            var n = _admitted.GetValueOrDefault(rule.Rule);
            _admitted[rule.Rule] = n + 1;
            if (n % rule.Rate == 0) _logging.Add(id);
        }
        if (!ended) return _logging.Contains(id);
        _logging.Remove(id);
        // A teardown logged with its traffic is listed once more when the sessionizer forgets the session.
        if (!forgotten) _endLogged.Add(id);
        else if (_endLogged.Remove(id)) return false;
        return true;
    }

    private SessionLogRule? RuleFor(Session s)
    {
        var ruleId = s.Forward.SgRule != 0 ? s.Forward.SgRule : s.Reverse.SgRule;
        var name = ruleId == 0 ? null : names.Name(ruleId);
        SessionLogRule? any = null;
        foreach (var r in logging)
        {
            if (name is not null && r.Rule == name) return r;
            if (r.Rule == SessionLogRule.Any) any ??= r;
        }
        return any;
    }
}
