using Flowline.Api;

namespace Flowline.Api.Tests;

public sealed class SignatureTests
{
    [Fact]
    public void The_action_signature_matches_the_JCS_clients_algorithm()
    {
        // Expected value computed with Python's hmac/hashlib/base64 and urllib.parse.quote(safe='-_~'),
        // exactly as the public JCS client signs (auth_handler.py: string_to_sign, sort_params).
        var p = new List<KeyValuePair<string, string>>
        {
            new("Version", "2016-03-01"), new("Action", "DescribeFlowLog"),
            new("start_time", "03-11-2016 17:00:00"), new("end_time", "03-11-2016 17:05:00"),
            new("admin_password", "takemefromrequest"), new("account", "acc-789189089"), new("direction_ing", "1"),
            new("JCSAccessKeyId", "FLKABCDEFGHIJKLMNOPQ"), new("SignatureVersion", "2"), new("SignatureMethod", "HmacSHA256"),
            new("Timestamp", "2016-11-03T11:35:00Z"),
        };
        var toSign = Signatures.ActionStringToSign("GET", "vpc.example.test:8008", "/", p);
        Assert.Equal("GET\nvpc.example.test:8008\n/\nAction=DescribeFlowLog&JCSAccessKeyId=FLKABCDEFGHIJKLMNOPQ&SignatureMethod=HmacSHA256&SignatureVersion=2" +
                     "&Timestamp=2016-11-03T11%3A35%3A00Z&Version=2016-03-01&account=acc-789189089&admin_password=takemefromrequest&direction_ing=1" +
                     "&end_time=03-11-2016%2017%3A05%3A00&start_time=03-11-2016%2017%3A00%3A00", toSign);
        Assert.Equal("uqUvwKi4EDtzrNPMac0hLRx1j9wu6hOTHPwGzDH7Eig=", Signatures.ActionSignature("wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY", toSign));
    }

    [Theory]
    [InlineData("a-b_c.d~e", "a-b_c.d~e")]
    [InlineData("08-11-2016 16:30:00", "08-11-2016%2016%3A30%3A00")]
    [InlineData("a+b/c=d&e", "a%2Bb%2Fc%3Dd%26e")]
    [InlineData("é", "%C3%A9")]
    public void Encoding_leaves_only_unreserved_characters(string value, string encoded) =>
        Assert.Equal(encoded, Signatures.Encode(value));

    [Fact]
    public void The_signature_parameter_is_not_signed_and_order_does_not_matter()
    {
        var a = Signatures.ActionStringToSign("GET", "h", "/", [new("b", "2"), new("a", "1"), new("Signature", "x")]);
        var b = Signatures.ActionStringToSign("GET", "h", "/", [new("a", "1"), new("b", "2")]);
        Assert.Equal(b, a);
    }

    [Fact]
    public void An_authorization_header_round_trips()
    {
        var header = Signatures.ApiAuthorization("FLKX", "secret", "GET", "/api/v1/flows", [new("to", "2"), new("from", "1")], [], DateTimeOffset.FromUnixTimeSeconds(1_800_000_000));
        var parsed = Signatures.ParseAuthorization(header);
        Assert.NotNull(parsed);
        Assert.Equal("FLKX", parsed.Value.KeyId);
        Assert.Equal("2027-01-15T08:00:00Z", parsed.Value.Timestamp);
        Assert.Equal(Signatures.ApiSignature("secret", Signatures.ApiStringToSign("GET", "/api/v1/flows", [new("from", "1"), new("to", "2")], parsed.Value.Timestamp, [], parsed.Value.Nonce)), parsed.Value.Signature);
        Assert.Equal(24, parsed.Value.Nonce!.Length);
        Assert.Null(Signatures.ParseAuthorization("Bearer abc"));
        Assert.Null(Signatures.ParseAuthorization("FLOWLINE-HMAC-SHA256 Credential=a, Timestamp=b"));
    }

    [Theory]
    [InlineData("FLOWLINE-HMAC-SHA256 Credential=a, Timestamp=b", "the header lacks Signature")]
    [InlineData("FLOWLINE-HMAC-SHA256 Credential=a, Timestamp=b, Signature=c, Nonce=", "the Nonce is 1 to 64 characters, not 0")]
    [InlineData("FLOWLINE-HMAC-SHA256 Credential=a, Timestamp=b, Signature=c, Nonce=0123456789012345678901234567890123456789012345678901234567890123x", "the Nonce is 1 to 64 characters, not 65")]
    [InlineData("FLOWLINE-HMAC-SHA256 Credential=a, SignedHeaders=host, Signature=c", "'SignedHeaders' is not a part of the header (Credential, Timestamp, Nonce, Signature)")]
    [InlineData("FLOWLINE-HMAC-SHA256 Credential", "'Credential' is not NAME=VALUE")]
    public void A_header_of_the_scheme_that_cannot_be_read_says_which_part_is_wrong(string header, string problem)
    {
        Assert.Null(Signatures.ParseAuthorization(header, out var why));
        Assert.Equal(problem, why);
    }
}
