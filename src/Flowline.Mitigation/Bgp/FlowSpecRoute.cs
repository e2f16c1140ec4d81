using Flowline.Wire.Bgp;

namespace Flowline.Mitigation.Bgp;

/// <summary>
/// A FlowSpec route as the speaker announces it: the rule (its NLRI) with its actions (extended
/// communities) and standard communities (such as RFC 7999's blackhole). Two routes with the same
/// rule are the same route; announcing it again with other actions replaces it (RFC 4271 implicit withdraw).
/// </summary>
public sealed record FlowSpecRoute(FlowSpecRule Rule, IReadOnlyList<FlowSpecAction> Actions, IReadOnlyList<uint> Communities)
{
    /// <summary>The rule's NLRI in hex: the route's identity.</summary>
    public string Key { get; } = Convert.ToHexString(Rule.Encode());

    public BgpFamily Family => Rule.Ipv6 ? BgpFamily.Ipv6FlowSpec : BgpFamily.Ipv4FlowSpec;

    /// <summary>True when <paramref name="other"/> carries the same actions and communities.</summary>
    public bool SameAttributes(FlowSpecRoute other) =>
        Actions.SequenceEqual(other.Actions) && Communities.SequenceEqual(other.Communities);

    public override string ToString() => $"{Rule} then {(Actions.Count == 0 && Communities.Count == 0 ? "accept" : string.Join(", ", Actions.Select(Describe).Concat(Communities.Select(DescribeCommunity))))}";

    public static string Describe(FlowSpecAction a) => a switch
    {
        FlowSpecAction.RateLimit { BytesPerSecond: 0 } => "discard",
        FlowSpecAction.RateLimit r => $"rate-limit {r.BytesPerSecond:0} bytes/s",
        FlowSpecAction.Redirect d => $"redirect {d.As}:{d.Value}",
        FlowSpecAction.Mark m => $"mark dscp {m.Dscp}",
        FlowSpecAction.TrafficAction t => $"traffic-action{(t.Sample ? " sample" : "")}{(t.Terminal ? " terminal" : "")}",
        _ => a.ToString(),
    };

    public static string DescribeCommunity(uint c) => c == FlowSpecAction.Blackhole ? "blackhole" : $"community {c >> 16}:{c & 0xFFFF}";
}
