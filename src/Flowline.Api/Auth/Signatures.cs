using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Flowline.Api;

/// <summary>
/// Request signatures. Both faces sign with HMAC-SHA256 under the key's secret:
/// <list type="bullet">
/// <item>The Action API (JCS signature version 2, what the public JCS client sends): the string to sign is
/// <c>VERB\nhost[:port]\n/\n</c> followed by every parameter except <c>Signature</c>, sorted by name, each
/// <c>name=value</c> percent-encoded (letters, digits and <c>-_.~</c> left as they are), joined by <c>&amp;</c>;
/// the signature is its base64 HMAC in the <c>Signature</c> parameter.</item>
/// <item><c>/api/v1</c>: <c>Authorization: FLOWLINE-HMAC-SHA256 Credential=KEY, Timestamp=T, Signature=S</c>
/// where S is the hex HMAC of <c>VERB\npath\nsorted query\nT\nhex(SHA-256(body))</c>, the query encoded the
/// same way.</item>
/// </list>
/// </summary>
public static class Signatures
{
    public const string ActionTimestampFormat = "yyyy-MM-ddTHH:mm:ssZ";
    public const string Scheme = "FLOWLINE-HMAC-SHA256";

    /// <summary>RFC 3986 percent-encoding as Python's quote(safe='-_~') does it: uppercase hex, UTF-8.</summary>
    public static string Encode(string s)
    {
        var sb = new StringBuilder(s.Length + 8);
        foreach (var b in Encoding.UTF8.GetBytes(s))
        {
            if (b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9'
                or (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~')
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }

    /// <summary>Parameters sorted by name (ordinal, then by value for repeated names), encoded and joined by '&amp;'.</summary>
    public static string CanonicalQuery(IEnumerable<KeyValuePair<string, string>> parameters, string? skip = null) =>
        string.Join('&', parameters
            .Where(p => skip is null || !string.Equals(p.Key, skip, StringComparison.Ordinal))
            .OrderBy(p => p.Key, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => Encode(p.Key) + "=" + Encode(p.Value)));

    public static string ActionStringToSign(string verb, string hostAndPort, string path, IEnumerable<KeyValuePair<string, string>> parameters) =>
        verb + "\n" + hostAndPort + "\n" + path + "\n" + CanonicalQuery(parameters, skip: "Signature");

    public static string ActionSignature(string secret, string stringToSign) =>
        Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(stringToSign)));

    /// <summary>Adds the authentication parameters of signature version 2 (with <paramref name="now"/>) and the signature.</summary>
    public static void SignAction(List<KeyValuePair<string, string>> parameters, string keyId, string secret, string verb, string hostAndPort, DateTimeOffset now)
    {
        parameters.RemoveAll(p => p.Key is "JCSAccessKeyId" or "SignatureVersion" or "SignatureMethod" or "Timestamp" or "Signature");
        parameters.Add(new("JCSAccessKeyId", keyId));
        parameters.Add(new("SignatureVersion", "2"));
        parameters.Add(new("SignatureMethod", "HmacSHA256"));
        parameters.Add(new("Timestamp", now.UtcDateTime.ToString(ActionTimestampFormat, CultureInfo.InvariantCulture)));
        parameters.Add(new("Signature", ActionSignature(secret, ActionStringToSign(verb, hostAndPort, "/", parameters))));
    }

    /// <summary>
    /// What an /api/v1 request signs: method, path, sorted query, timestamp, the body's SHA-256, and the nonce
    /// when the request carries one (so that the same request may be sent twice within a second).
    /// </summary>
    public static string ApiStringToSign(string verb, string path, IEnumerable<KeyValuePair<string, string>> query, string timestamp, ReadOnlySpan<byte> body, string? nonce = null) =>
        ApiStringToSignOfHash(verb, path, query, timestamp, SHA256.HashData(body), nonce);

    /// <summary>The same, from the body's SHA-256 (hashed as it streams in, never held whole).</summary>
    public static string ApiStringToSignOfHash(string verb, string path, IEnumerable<KeyValuePair<string, string>> query, string timestamp, ReadOnlySpan<byte> bodyHash, string? nonce = null) =>
        verb + "\n" + path + "\n" + CanonicalQuery(query) + "\n" + timestamp + "\n" + Convert.ToHexStringLower(bodyHash)
        + (string.IsNullOrEmpty(nonce) ? "" : "\n" + nonce);

    public static string ApiSignature(string secret, string stringToSign) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(stringToSign)));

    /// <summary>The Authorization header value for an /api/v1 request, with a fresh random nonce.</summary>
    public static string ApiAuthorization(string keyId, string secret, string verb, string path, IEnumerable<KeyValuePair<string, string>> query, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        var timestamp = now.UtcDateTime.ToString(ActionTimestampFormat, CultureInfo.InvariantCulture);
        var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var signature = ApiSignature(secret, ApiStringToSign(verb, path, query, timestamp, body, nonce));
        return $"{Scheme} Credential={keyId}, Timestamp={timestamp}, Nonce={nonce}, Signature={signature}";
    }

    /// <summary>Splits an Authorization header of <see cref="Scheme"/>; null when it is not one.</summary>
    public static (string KeyId, string Timestamp, string Signature, string? Nonce)? ParseAuthorization(string? header) =>
        ParseAuthorization(header, out _);

    /// <summary>Nonce characters at most: a replay cache entry is kept for each.</summary>
    public const int MaxNonce = 64;

    /// <summary>
    /// Splits an Authorization header of <see cref="Scheme"/>; null when it is not one, with
    /// <paramref name="problem"/> naming the part that is wrong when the header is of the scheme.
    /// </summary>
    public static (string KeyId, string Timestamp, string Signature, string? Nonce)? ParseAuthorization(string? header, out string? problem)
    {
        problem = null;
        if (header is null || !header.StartsWith(Scheme + " ", StringComparison.Ordinal)) return null;
        string? key = null, timestamp = null, signature = null, nonce = null;
        foreach (var part in header[(Scheme.Length + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                problem = $"'{Shown(part)}' is not NAME=VALUE";
                return null;
            }
            var value = part[(eq + 1)..];
            switch (part[..eq])
            {
                case "Credential": key = value; break;
                case "Timestamp": timestamp = value; break;
                case "Signature": signature = value; break;
                case "Nonce" when value.Length is > 0 and <= MaxNonce: nonce = value; break;
                case "Nonce":
                    problem = $"the Nonce is 1 to {MaxNonce} characters, not {value.Length}";
                    return null;
                default:
                    problem = $"'{Shown(part[..eq])}' is not a part of the header (Credential, Timestamp, Nonce, Signature)";
                    return null;
            }
        }
        if (key is null || timestamp is null || signature is null)
        {
            problem = $"the header lacks {(key is null ? "Credential" : timestamp is null ? "Timestamp" : "Signature")}";
            return null;
        }
        return (key, timestamp, signature, nonce);
    }

    /// <summary>A stranger's text as an error message quotes it: at most 40 characters.</summary>
    private static string Shown(string text) => text.Length <= 40 ? text : text[..40] + "...";

    /// <summary>Compares two signatures in time that does not depend on where they differ.</summary>
    public static bool Same(string expected, string given) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(given));
}
