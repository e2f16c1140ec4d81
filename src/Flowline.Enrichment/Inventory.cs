using Flowline.Query;
using Flowline.Records;

namespace Flowline.Enrichment;

/// <summary>A tenant: every network, port and security group belongs to one.</summary>
public sealed record Account(string Id, string Name);

/// <summary>
/// A virtual network (<c>default-domain:project:net</c>): its account, subnets, and where exporters see
/// its traffic (VLAN tag, VXLAN VNI or GRE key). The public network has no account and no subnets: it is
/// what every address outside all networks belongs to.
/// </summary>
public sealed record VirtualNetwork(string Name, string? Account, IReadOnlyList<Prefix> Subnets, ushort? Vlan, uint? Vni, bool IsPublic);

/// <summary>Workload tags of seed 001, plus free-form labels.</summary>
public sealed record Tags(string? App, string? Tier, string? Site, string? Deployment, IReadOnlyList<string> Labels)
{
    public static readonly Tags None = new(null, null, null, null, []);
}

/// <summary>A port (VMI): a VM's interface on a virtual network. <see cref="OfInterest"/>: its session creation rate is watched for anomalies.</summary>
public sealed record Port(
    string Uuid,
    string Account,
    string Network,
    ulong Mac,
    IReadOnlyList<FlowAddress> Addresses,
    string? Vm,
    string? Node,
    FlowAddress? Exporter,
    string? Interface,
    uint? OfPort,
    uint? IfIndex,
    Tags Tags,
    IReadOnlyList<string> SecurityGroups,
    bool OfInterest = false,
    bool PortSecurityEnabled = true);

public enum RuleDirection : byte { Ingress, Egress }

/// <summary>
/// A security-group rule: traffic in <see cref="Direction"/> relative to the port, of this ether type and
/// protocol (null: any), to ports in [PortLow, PortHigh], from or to <see cref="Remote"/> (a prefix) or the
/// members of <see cref="RemoteGroup"/>.
/// </summary>
public sealed record SecurityRule(
    string Uuid,
    RuleDirection Direction,
    byte IpVersion,
    byte? Protocol,
    ushort PortLow,
    ushort PortHigh,
    Prefix? Remote,
    string? RemoteGroup);

public sealed record SecurityGroup(string Uuid, string Name, string Account, IReadOnlyList<SecurityRule> Rules);

/// <summary>
/// Everything enrichment knows about the cloud: accounts, networks, ports and security groups, validated
/// (every reference resolves, every address lies in its network). Immutable: a reload builds a new one.
/// </summary>
public sealed class Inventory
{
    public static readonly Inventory Empty = new([], [], [], []);

    public Inventory(IReadOnlyList<Account> accounts, IReadOnlyList<VirtualNetwork> networks, IReadOnlyList<Port> ports,
        IReadOnlyList<SecurityGroup> securityGroups)
    {
        Accounts = accounts;
        Networks = networks;
        Ports = ports;
        SecurityGroups = securityGroups;
    }

    public IReadOnlyList<Account> Accounts { get; }
    public IReadOnlyList<VirtualNetwork> Networks { get; }
    public IReadOnlyList<Port> Ports { get; }
    public IReadOnlyList<SecurityGroup> SecurityGroups { get; }
}
