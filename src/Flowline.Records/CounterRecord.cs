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
}

/// <summary>The wire layout of a counter record: field names (sflowtool's) in order with their widths.</summary>
public sealed class CounterSchema
{
    private CounterSchema(string name, uint format, (string Name, CounterFieldKind Kind)[] fields, int requiredFields)
    {
        Name = name;
        Format = format;
        Names = fields.Select(f => f.Name).ToArray();
        Kinds = fields.Select(f => f.Kind).ToArray();
        MinLength = fields.Take(requiredFields).Sum(f => f.Kind == CounterFieldKind.U64 ? 8 : 4);
    }

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

    public static CounterSchema? For(uint enterprise, uint format) => enterprise != 0 ? null : format switch
    {
        1 => GenericInterface,
        2 => Ethernet,
        5 => Vlan,
        1001 => Processor,
        2003 => HostCpu,
        2004 => HostMemory,
        2207 => OvsDatapath,
        _ => null,
    };
}
