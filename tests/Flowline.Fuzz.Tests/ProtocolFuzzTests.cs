using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Flowline.Wire.Bgp;
using Flowline.Wire.Ovsdb;

namespace Flowline.Fuzz.Tests;

/// <summary>
/// Mutated control-plane input: BGP Flow Specification NLRIs (from RFC 8955's and RFC 8956's examples) and
/// OVSDB JSON-RPC streams. A FlowSpec NLRI is read or refused with a FormatException, and what is read
/// encodes again to a rule that reads back the same; a stream is split into messages or refused, never
/// anything else.
/// </summary>
public sealed class ProtocolFuzzTests
{
    private static readonly byte[][] Rules =
    [
        Convert.FromHexString("0b0118c00002038106048119"),
        Convert.FromHexString("120118c000020218cb0071040389458b911f90"),
        Convert.FromHexString("090120c00002010c8005"),
        Convert.FromHexString("1201200020010db8026840123456789a038106"),
        Convert.FromHexString("0f01200020010db80268412468acf134"),
    ];

    [Fact]
    public void Mutated_flowspec_rules_are_read_or_refused_and_what_is_read_encodes_back_to_itself()
    {
        var buffer = new byte[512];
        Budget.Run("flowspec", (random, n) =>
        {
            var source = Rules[random.Next(Rules.Length)];
            var length = Mutator.Bytes(random, source, Rules, buffer);
            var input = buffer.AsSpan(0, length).ToArray();
            var ipv6 = random.Next(2) == 0;
            try
            {
                var rule = FlowSpecRule.Decode(input, ipv6, out var consumed);
                Assert.InRange(consumed, 1, input.Length);
                var again = FlowSpecRule.Decode(rule.Encode(), ipv6, out _);
                Assert.Equal(rule.ToString(), again.ToString());
            }
            catch (FormatException)
            {
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                throw Budget.Crash("flowspec", input, e);
            }
        });
    }

    private static readonly string[] Messages =
    [
        """{"id":1,"result":[{"rows":[{"_uuid":["uuid","0c4a0d1e-1b7c-4f5a-9c69-3b1d6f0e8a11"],"name":"br0","mirrors":["set",[]]}]}],"error":null}""",
        """{"method":"update","params":["flowline-taas",{"Mirror":{"0c4a":{"new":{"name":"m","external_ids":["map",[["flowline-tap","ts-1"]]]}}}}],"id":null}""",
        """{"method":"echo","params":["a\"}\\"],"id":"echo"}""",
    ];

    [Fact]
    public void Mutated_json_rpc_streams_are_split_into_messages_or_refused()
    {
        var pool = Messages.Select(Encoding.UTF8.GetBytes).ToArray();
        var buffer = new byte[4096];
        Budget.Run("json-rpc", (random, count) =>
        {
            var stream = string.Concat(Enumerable.Range(0, 1 + random.Next(4)).Select(k => Messages[random.Next(Messages.Length)]));
            var length = Mutator.Bytes(random, Encoding.UTF8.GetBytes(stream), pool, buffer);
            var input = buffer.AsSpan(0, length).ToArray();
            try
            {
                var framer = new JsonRpcFramer(2048);
                for (var at = 0; at < input.Length;)
                {
                    var room = framer.Room();
                    var take = Math.Min(Math.Min(room.Length, input.Length - at), 1 + random.Next(64));
                    input.AsSpan(at, take).CopyTo(room.Span);
                    framer.Advance(take);
                    at += take;
                    while (framer.TryNext(out var message))
                    {
                        Assert.Equal((byte)'{', message.Span[0]);
                        try
                        {
                            _ = JsonNode.Parse(message.Span, documentOptions: new JsonDocumentOptions { MaxDepth = JsonRpcFramer.MaxDepth });
                        }
                        catch (JsonException)
                        {
                        }
                    }
                }
            }
            catch (FormatException)
            {
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                throw Budget.Crash("json-rpc", input, e);
            }
        });
    }
}
