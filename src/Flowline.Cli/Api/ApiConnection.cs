using System.Security.Cryptography.X509Certificates;

namespace Flowline.Cli.Api;

/// <summary>
/// How a command reaches a server's HTTP API: its URL, the access key and secret, the admin password when
/// given, and a certificate to trust for https. Read from the environment (FLOWLINE_* names, then the JCS
/// client's) or an openrc file of <c>export NAME=value</c> lines.
/// </summary>
internal sealed record ApiConnection(Uri Base, string KeyId, string Secret, string? AdminPassword, X509Certificate2? Trusted)
{
    public static ApiConnection From(string? endpoint, string? openrc, string? caCert)
    {
        var env = Credentials(openrc);
        var keyId = env("FLOWLINE_ACCESS_KEY", "ACCESS_KEY") ?? throw new ArgumentException("no access key: set FLOWLINE_ACCESS_KEY (or use --openrc FILE)");
        var secret = env("FLOWLINE_SECRET_KEY", "SECRET_KEY") ?? throw new ArgumentException("no secret key: set FLOWLINE_SECRET_KEY (or use --openrc FILE)");
        var adminPassword = env("FLOWLINE_ADMIN_PASSWORD", "VPC_FLOW_LOGS_ADMIN_PASS");
        endpoint ??= env("FLOWLINE_URL", "VPC_URL") ?? "http://127.0.0.1:8008";
        if (!Uri.TryCreate(endpoint.TrimEnd('/'), UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"--endpoint '{endpoint}' is not an http(s) URL");
        }
        caCert ??= env("FLOWLINE_CA_CERT", "FLOWLINE_CA_CERT");
        X509Certificate2? trusted = null;
        if (caCert is { Length: > 0 })
        {
            try
            {
                trusted = X509Certificate2.CreateFromPem(File.ReadAllText(caCert));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw new ArgumentException($"--ca-cert {caCert}: not a readable PEM certificate ({e.Message})");
            }
        }
        return new ApiConnection(baseUri, keyId, secret, adminPassword, trusted);
    }

    /// <summary>A client that, given a certificate to trust, accepts a server chain ending in it (and nothing else).</summary>
    public HttpClient Client()
    {
        var handler = new SocketsHttpHandler();
        if (Trusted is { } root)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(root);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(new X509Certificate2(certificate));
            };
        }
        return new HttpClient(handler) { Timeout = TimeSpan.FromMinutes(5) };
    }

    /// <summary>Looks a credential up in the environment, then in the openrc file, by its Flowline name and then the JCS client's.</summary>
    public static Func<string, string, string?> Credentials(string? openrc)
    {
        var file = new Dictionary<string, string>(StringComparer.Ordinal);
        if (openrc is not null)
        {
            if (!File.Exists(openrc)) throw new ArgumentException($"--openrc {openrc}: no such file");
            foreach (var raw in File.ReadAllLines(openrc))
            {
                var line = raw.Trim();
                if (line.StartsWith("export ", StringComparison.Ordinal)) line = line[7..].Trim();
                var eq = line.IndexOf('=', StringComparison.Ordinal);
                if (line.StartsWith('#') || eq <= 0) continue;
                var value = line[(eq + 1)..].Trim();
                if (value.Length >= 2 && value[0] is '"' or '\'' && value[^1] == value[0]) value = value[1..^1];
                file[line[..eq].Trim()] = value;
            }
        }
        return (name, jcsName) =>
            Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v
            : file.TryGetValue(name, out var f) ? f
            : Environment.GetEnvironmentVariable(jcsName) is { Length: > 0 } j ? j
            : file.GetValueOrDefault(jcsName);
    }
}
