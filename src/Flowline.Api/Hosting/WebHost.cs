using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Flowline.Api;

/// <summary>Kestrel for serve's HTTP port: the listener, HTTPS when a certificate is given, no framework logging.</summary>
public static class WebHost
{
    /// <summary>A web application listening on <paramref name="endpoint"/> (<c>[::]</c>: every IPv4 and IPv6 address).</summary>
    /// <param name="maxBody">Kestrel's own body limit: the largest any route takes (the door lowers it per route).</param>
    /// <param name="logs">Where the framework's own events go (its warnings and errors); null: nowhere.</param>
    public static WebApplication Create(IPEndPoint endpoint, X509Certificate2? certificate = null, long maxBody = 64L << 20, ILoggerProvider? logs = null)
    {
        // The content root is watched for configuration changes; the working directory may hold the data
        // directory, whose every commit would then wake the watcher.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (logs is not null) builder.Logging.AddProvider(new Unowned(logs));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = maxBody;
            void Https(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions o)
            {
                if (certificate is not null) o.UseHttps(certificate);
            }
            if (endpoint.Address.Equals(IPAddress.IPv6Any)) k.ListenAnyIP(endpoint.Port, Https);
            else k.Listen(endpoint, Https);
        });
        return builder.Build();
    }

    /// <summary>The caller's provider, which the web application must not dispose with itself.</summary>
    private sealed class Unowned(ILoggerProvider inner) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => inner.CreateLogger(categoryName);
        public void Dispose() { }
    }

    /// <summary>
    /// A certificate with its private key for HTTPS: a PEM file (certificate chain, and the key unless
    /// <paramref name="keyPath"/> names it) or a PKCS#12 file without a password.
    /// </summary>
    public static X509Certificate2 LoadCertificate(string path, string? keyPath)
    {
        var bytes = File.ReadAllBytes(path);
        var text = Encoding.ASCII.GetString(bytes);
        X509Certificate2 certificate;
        if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
        {
            certificate = X509Certificate2.CreateFromPemFile(path, keyPath is { Length: > 0 } ? keyPath : path);
        }
        else
        {
            if (keyPath is { Length: > 0 }) throw new ArgumentException("a PKCS#12 file holds its own key: leave out tls_key");
            certificate = X509CertificateLoader.LoadPkcs12(bytes, null);
        }
        if (!certificate.HasPrivateKey) throw new ArgumentException("the certificate has no private key (give it with --tls-key)");
        if (certificate.NotAfter < DateTime.Now) throw new ArgumentException($"the certificate expired on {certificate.NotAfter:yyyy-MM-dd}");
        // Kestrel on Linux needs the key in an exportable, non-ephemeral form.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}
