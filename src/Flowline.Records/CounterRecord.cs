using System.Runtime.CompilerServices;

namespace Flowline.Records;

[InlineArray(CounterRecord.MaxValues)]
public struct CounterValues
{
    private ulong _element0;
}

/// <summary>
/// One sFlow counter record (interface, Ethernet, VLAN, host CPU/memory, OVS datapath ...), decoded by
/// its <see cref="CounterSchema"/> into plain values. Float fields hold their IEEE bits.
/// </summary>
public struct CounterRecord
{
    public const int MaxValues = 24;

    public FlowAddress Agent;
    public uint SubAgent;
    /// <summary>Data source: class &lt;&lt; 24 | index.</summary>
    public uint SourceId;
    public uint SampleSequence;
    public uint Enterprise;
    public uint Format;
    public int Count;
    public CounterValues Values;
    /// <summary>Host sFlow's host_descr (0:2000): the host's or container's name, UUID and system.</summary>
    public HostDescription? Host;
    /// <summary>Host sFlow's host_adapters (0:2001): the host's interfaces and their MAC addresses.</summary>
    public HostAdapter[]? Adapters;
    /// <summary>port_name (0:1005): the interface's name (Open vSwitch's port, a switch's ifName).</summary>
    public string? PortName;

    public readonly CounterSchema? Schema => CounterSchema.For(Enterprise, Format);

    public readonly ulong Get(string name)
    {
        var schema = Schema;
        if (schema is null)
        {
            return 0;
        }
        var i = Array.IndexOf(schema.Names, name);
        return i >= 0 && i < Count ? Values[i] : 0;
    }
}

public enum CounterFieldKind : byte
{
    U32,
    U64,
    F32,
    /// <summary>A 32-bit percentage in hundredths (Host sFlow's disk_partition_max_used).</summary>
    Hundredths,
    /// <summary>A 64-bit identifier, printed in hexadecimal (an OpenFlow datapath id); not a quantity.</summary>
    Hex64,
    /// <summary>A MAC address: 6 bytes padded to 8, as XDR pads opaque&lt;6&gt;; not a quantity.</summary>
    Mac,
    /// <summary>One byte, within a 4-byte word of several (LACP's port states).</summary>
    U8,
}

/// <summary>
/// host_descr (sFlow Host Structures, 0:2000): hostname (at most 64 bytes), UUID, machine type and OS
/// (enumerations <see cref="MachineTypes"/>, <see cref="OsNames"/>), OS release (at most 32 bytes).
/// </summary>
public sealed record HostDescription(string Hostname, Guid Uuid, uint MachineType, uint OsName, string OsRelease)
{
    public const int MaxHostname = 64, MaxOsRelease = 32;

    public static readonly string[] MachineTypes = ["unknown", "other", "x86", "x86_64", "ia64", "sparc", "alpha", "powerpc", "m68k", "mips", "arm", "hppa", "s390"];
    public static readonly string[] OsNames = ["unknown", "other", "linux", "windows", "darwin", "hpux", "aix", "dragonfly", "freebsd", "netbsd", "openbsd", "osf", "solaris", "java"];

    public string MachineTypeName => MachineType < MachineTypes.Length ? MachineTypes[MachineType] : MachineType.ToString(System.Globalization.CultureInfo.InvariantCulture);
    public string OsNameName => OsName < OsNames.Length ? OsNames[OsName] : OsName.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>One adapter of host_adapters (0:2001): its ifIndex and MAC addresses.</summary>
public sealed record HostAdapter(uint IfIndex, ulong[] Macs);

/// <summary>The wire layout of a counter record: field names (sflowtool's) in order with their widths.</summary>
public sealed class CounterSchema
{
    private CounterSchema(string name, uint format, (string Name, CounterFieldKind Kind)[] fields, int requiredFields)
    {
        Name = name;
        Format = format;
        Names = fields.Select(f => f.Name).ToArray();
        Kinds = fields.Select(f => f.Kind).ToArray();
        MinLength = fields.Take(requiredFields).Sum(f => Width(f.Kind));
    }

    /// <summary>Bytes a field of <paramref name="kind"/> occupies on the wire.</summary>
    public static int Width(CounterFieldKind kind) => kind switch
    {
        CounterFieldKind.U64 or CounterFieldKind.Hex64 or CounterFieldKind.Mac => 8,
        CounterFieldKind.U8 => 1,
        _ => 4,
    };

    /// <summary>Whether a field of <paramref name="kind"/> is a quantity (a metric), not an identifier.</summary>
    public static bool Quantity(CounterFieldKind kind) => kind is not (CounterFieldKind.Hex64 or CounterFieldKind.Mac);

    public string Name { get; }
    public uint Format { get; }
    public string[] Names { get; }
    public CounterFieldKind[] Kinds { get; }
    /// <summary>Bytes the required fields occupy; optional trailing fields are read when present.</summary>
    public int MinLength { get; }

    private static (string, CounterFieldKind) U32(string n) => (n, CounterFieldKind.U32);
    private static (string, CounterFieldKind) U64(string n) => (n, CounterFieldKind.U64);
    private static (string, CounterFieldKind) F32(string n) => (n, CounterFieldKind.F32);

    public static readonly CounterSchema GenericInterface = new("generic_interface", 1,
    [
        U32("ifIndex"), U32("networkType"), U64("ifSpeed"), U32("ifDirection"), U32("ifStatus"),
        U64("ifInOctets"), U32("ifInUcastPkts"), U32("ifInMulticastPkts"), U32("ifInBroadcastPkts"),
        U32("ifInDiscards"), U32("ifInErrors"), U32("ifInUnknownProtos"),
        U64("ifOutOctets"), U32("ifOutUcastPkts"), U32("ifOutMulticastPkts"), U32("ifOutBroadcastPkts"),
        U32("ifOutDiscards"), U32("ifOutErrors"), U32("ifPromiscuousMode"),
    ], 19);

    public static readonly CounterSchema Ethernet = new("ethernet", 2,
    [
        U32("dot3StatsAlignmentErrors"), U32("dot3StatsFCSErrors"), U32("dot3StatsSingleCollisionFrames"),
        U32("dot3StatsMultipleCollisionFrames"), U32("dot3StatsSQETestErrors"), U32("dot3StatsDeferredTransmissions"),
        U32("dot3StatsLateCollisions"), U32("dot3StatsExcessiveCollisions"), U32("dot3StatsInternalMacTransmitErrors"),
        U32("dot3StatsCarrierSenseErrors"), U32("dot3StatsFrameTooLongs"), U32("dot3StatsInternalMacReceiveErrors"),
        U32("dot3StatsSymbolErrors"),
    ], 13);

    public static readonly CounterSchema Vlan = new("vlan", 5,
    [
        U32("vlan"), U64("octets"), U32("ucastPkts"), U32("multicastPkts"), U32("broadcastPkts"), U32("discards"),
    ], 6);

    /// <summary>LACP (0:7), a link aggregation member's state and its LACPDU counters (sflow.org/sflow_lag.txt).</summary>
    public static readonly CounterSchema Lacp = new("lacp", 7,
    [
        ("actorSystemID", CounterFieldKind.Mac), ("partnerSystemID", CounterFieldKind.Mac), U32("attachedAggID"),
        ("actorAdminPortState", CounterFieldKind.U8), ("actorOperPortState", CounterFieldKind.U8),
        ("partnerAdminPortState", CounterFieldKind.U8), ("partnerOperPortState", CounterFieldKind.U8),
        U32("LACPDUsRx"), U32("markerPDUsRx"), U32("markerResponsePDUsRx"), U32("unknownRx"), U32("illegalRx"),
        U32("LACPDUsTx"), U32("markerPDUsTx"), U32("markerResponsePDUsTx"),
    ], 15);

    /// <summary>of_port (0:1004): the OpenFlow switch (datapath id) and port number of the interface (sflow.org/sflow_openflow.txt).</summary>
    public static readonly CounterSchema OpenFlowPort = new("openflow_port", 1004,
        [("openflow_datapath_id", CounterFieldKind.Hex64), U32("openflow_port")], 2);

    /// <summary>port_name (0:1005): string name&lt;255&gt;, the interface's name (sflow.org/sflow_openflow.txt).</summary>
    public static readonly CounterSchema PortName = new("port_name", 1005, [], 0);

    /// <summary>app_resources (0:2203): a process's CPU, memory, files and connections (sflow.org/sflow_application.txt); Open vSwitch sends its own.</summary>
    public static readonly CounterSchema AppResources = new("app_resources", 2203,
    [
        U32("user_time"), U32("system_time"), U64("memory_used"), U64("memory_max"), U32("files_open"), U32("files_max"),
        U32("connections_open"), U32("connections_max"),
    ], 8);

    public static readonly CounterSchema Processor = new("processor", 1001,
    [
        U32("cpu_5s"), U32("cpu_1m"), U32("cpu_5m"), U64("total_memory"), U64("free_memory"),
    ], 5);

    public static readonly CounterSchema HostCpu = new("host_cpu", 2003,
    [
        F32("cpu_load_one"), F32("cpu_load_five"), F32("cpu_load_fifteen"), U32("cpu_proc_run"), U32("cpu_proc_total"),
        U32("cpu_num"), U32("cpu_speed"), U32("cpu_uptime"), U32("cpu_user"), U32("cpu_nice"), U32("cpu_system"),
        U32("cpu_idle"), U32("cpu_wio"), U32("cpuintr"), U32("cpu_sintr"), U32("cpuinterrupts"), U32("cpu_contexts"),
        U32("cpu_steal"), U32("cpu_guest"), U32("cpu_guest_nice"),
    ], 17);

    public static readonly CounterSchema HostMemory = new("host_memory", 2004,
    [
        U64("mem_total"), U64("mem_free"), U64("mem_shared"), U64("mem_buffers"), U64("mem_cached"),
        U64("swap_total"), U64("swap_free"), U32("page_in"), U32("page_out"), U32("swap_in"), U32("swap_out"),
    ], 11);

    public static readonly CounterSchema OvsDatapath = new("ovs_dp", 2207,
    [
        U32("OVS_dp_hits"), U32("OVS_dp_misses"), U32("OVS_dp_lost"), U32("OVS_dp_mask_hits"),
        U32("OVS_dp_flows"), U32("OVS_dp_masks"),
    ], 6);

    // sFlow Host Structures (sflow.org/sflow_host.txt): field names as sflowtool prints them.
    public static readonly CounterSchema HostDescr = new("host_descr", 2000, [U32("machine_type"), U32("os_name")], 0);
    public static readonly CounterSchema HostAdapters = new("host_adapters", 2001, [U32("adapters")], 0);
    public static readonly CounterSchema HostParent = new("host_parent", 2002, [U32("parent_dsClass"), U32("parent_dsIndex")], 2);

    public static readonly CounterSchema HostDiskIo = new("host_disk_io", 2005,
    [
        U64("disk_total"), U64("disk_free"), ("disk_partition_max_used", CounterFieldKind.Hundredths), U32("disk_reads"), U64("disk_bytes_read"),
        U32("disk_read_time"), U32("disk_writes"), U64("disk_bytes_written"), U32("disk_write_time"),
    ], 9);

    public static readonly CounterSchema HostNetIo = new("host_net_io", 2006,
    [
        U64("nio_bytes_in"), U32("nio_pkts_in"), U32("nio_errs_in"), U32("nio_drops_in"),
        U64("nio_bytes_out"), U32("nio_pkts_out"), U32("nio_errs_out"), U32("nio_drops_out"),
    ], 8);

    public static readonly CounterSchema VirtNode = new("virt_node", 2100,
        [U32("vnode_mhz"), U32("vnode_cpus"), U64("vnode_memory"), U64("vnode_memory_free"), U32("vnode_num_domains")], 5);

    public static readonly CounterSchema VirtCpu = new("virt_cpu", 2101, [U32("vcpu_state"), U32("vcpu_cpu_mS"), U32("vcpu_cpuCount")], 3);

    public static readonly CounterSchema VirtMemory = new("virt_memory", 2102, [U64("vmem_memory"), U64("vmem_maxMemory")], 2);

    public static readonly CounterSchema VirtDiskIo = new("virt_disk_io", 2103,
    [
        U64("vdsk_capacity"), U64("vdsk_allocation"), U64("vdsk_available"), U32("vdsk_rd_req"), U64("vdsk_rd_bytes"),
        U32("vdsk_wr_req"), U64("vdsk_wr_bytes"), U32("vdsk_errs"),
    ], 8);

    public static readonly CounterSchema VirtNetIo = new("virt_net_io", 2104,
    [
        U64("vnio_bytes_in"), U32("vnio_pkts_in"), U32("vnio_errs_in"), U32("vnio_drops_in"),
        U64("vnio_bytes_out"), U32("vnio_pkts_out"), U32("vnio_errs_out"), U32("vnio_drops_out"),
    ], 8);

    /// <summary>True for the structures with strings or lists, which have their own layout (host_descr, host_adapters, port_name).</summary>
    public bool Structured => Format is 2000 or 2001 or 1005;

    public static CounterSchema? For(uint enterprise, uint format) => enterprise != 0 ? null : format switch
    {
        2000 => HostDescr,
        2001 => HostAdapters,
        2002 => HostParent,
        2005 => HostDiskIo,
        2006 => HostNetIo,
        2100 => VirtNode,
        2101 => VirtCpu,
        2102 => VirtMemory,
        2103 => VirtDiskIo,
        2104 => VirtNetIo,
        1 => GenericInterface,
        2 => Ethernet,
        5 => Vlan,
        7 => Lacp,
        1001 => Processor,
        1004 => OpenFlowPort,
        1005 => PortName,
        2203 => AppResources,
        2003 => HostCpu,
        2004 => HostMemory,
        2207 => OvsDatapath,
        _ => null,
    };
}
