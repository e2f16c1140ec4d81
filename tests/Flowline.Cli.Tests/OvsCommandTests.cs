namespace Flowline.Cli.Tests;

/// <summary>`flowline ovs`: the ovs-vsctl transaction it builds, and its errors.</summary>
public sealed class OvsCommandTests
{
    [Fact]
    public void Configure_builds_one_ovs_vsctl_transaction_for_the_chosen_exports()
    {
        var all = FlowlineProcess.RunFlowline(["ovs", "configure", "--bridge", "br-int", "--collector", "10.0.10.53", "--sampling", "100",
            "--polling", "5", "--dry-run"]);
        Assert.Equal(0, all.ExitCode);
        Assert.StartsWith("ovs-vsctl -- --id=@sflow create sflow agent=br-int 'targets=\"10.0.10.53:6343\"' header=128 sampling=100 polling=5 -- set Bridge br-int sflow=@sflow", all.Stdout);
        Assert.Contains("-- --id=@nf create NetFlow 'targets=\"10.0.10.53:2055\"' active-timeout=60 -- set Bridge br-int netflow=@nf", all.Stdout);
        Assert.Contains("-- --id=@ipfix create IPFIX 'targets=\"10.0.10.53:4739\"' obs_domain_id=1 sampling=100", all.Stdout);

        var v6 = FlowlineProcess.RunFlowline(["ovs", "configure", "--bridge", "br0", "--collector", "fd00::53", "--protocols", "netflow", "--dry-run"]);
        Assert.Contains("'targets=\"[fd00::53]:2055\"'", v6.Stdout);
        Assert.Contains("-- clear Bridge br0 sflow", v6.Stdout);
        Assert.Contains("-- clear Bridge br0 ipfix", v6.Stdout);

        Assert.Equal("ovs-vsctl -- clear Bridge br0 sflow -- clear Bridge br0 netflow -- clear Bridge br0 ipfix\n",
            FlowlineProcess.RunFlowline(["ovs", "clear", "--bridge", "br0", "--dry-run"]).Stdout);
    }

    [Theory]
    [InlineData("--collector is required", "configure", "--bridge", "br0")]
    [InlineData("--collector nowhere: not an IP address", "configure", "--bridge", "br0", "--collector", "nowhere")]
    [InlineData("--bridge is required", "clear")]
    [InlineData("--protocols: unknown 'jflow'", "configure", "--bridge", "br0", "--collector", "10.0.0.1", "--protocols", "sflow,jflow")]
    [InlineData("--sampling 0: expected a number from 1", "configure", "--bridge", "br0", "--collector", "10.0.0.1", "--sampling", "0")]
    [InlineData("unknown ovs command 'restart'", "restart", "--bridge", "br0")]
    public void Bad_arguments_are_refused_with_the_reason(string message, params string[] args)
    {
        var r = FlowlineProcess.RunFlowline(["ovs", .. args]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
    }
}
