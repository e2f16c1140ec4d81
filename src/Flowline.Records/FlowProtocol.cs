namespace Flowline.Records;

/// <summary>The export protocol a record came from. The names are part of Flowline's interface.</summary>
public enum FlowProtocol : byte
{
    Unknown = 0,
    SFlow5 = 1,
    NetFlow5 = 2,
    NetFlow9 = 3,
    Ipfix = 4,
}

public static class FlowProtocolNames
{
    public static string Name(FlowProtocol p) => p switch
    {
        FlowProtocol.SFlow5 => "sflow5",
        FlowProtocol.NetFlow5 => "netflow5",
        FlowProtocol.NetFlow9 => "netflow9",
        FlowProtocol.Ipfix => "ipfix",
        _ => "unknown",
    };
}

/// <summary>Encapsulation in front of the flow the record describes (the record is the inner flow).</summary>
public enum TunnelKind : byte
{
    None = 0,
    Vxlan = 1,
    Gre = 2,
    Erspan = 3,
}
