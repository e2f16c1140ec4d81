using System.Net;
using System.Text.Json;
using Flowline.Api;
using Flowline.Storage.Embedded;
using Flowline.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Flowline.Api.Tests;

/// <summary>
/// A real Kestrel server on loopback with the Action API and /api/v1 over an embedded store in a temporary
/// directory, its keys, and its audit log.
/// </summary>
public sealed class ApiServer : IAsyncDisposable
{
    public const string AdminPasswordText = "correct horse battery staple";
    private readonly WebApplication _app;

    public DirectoryInfo Dir { get; } = Directory.CreateTempSubdirectory("flowline-api-");
    public Flowline.Query.IFlowStore Store { get; }
    public KeyStore Keys { get; }
    public AuditLog Audit { get; }
    public Uri Base { get; }
    public HttpClient Http { get; } = new();
    public WebApplication App => _app;

    /// <param name="open">The store the faces read (default: the embedded store in <see cref="Dir"/>).</param>
    public ApiServer(Action<Flowline.Query.IFlowStore>? fill = null, int failureLimit = 1000, Func<ApiServer, InventoryAccess>? inventory = null,
        Func<ApiServer, Flowline.Realtime.RealtimeEngine>? realtime = null, Func<ApiServer, TaasAccess>? taas = null,
        Func<DirectoryInfo, Flowline.Query.IFlowStore>? open = null)
    {
        Store = open?.Invoke(Dir) ?? new EmbeddedStore(Dir.FullName);
        fill?.Invoke(Store);
        Store.Flush();
        Keys = KeyStore.Open(Dir.FullName);
        Audit = new AuditLog(Dir.FullName);
        var options = new ApiOptions { AdminPassword = AdminPassword.Parse(AdminPassword.Hash(AdminPasswordText, 10_000)) };
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        var guard = new RequestGuard(Keys, failureLimit: failureLimit);
        ServeFaces.Doors(_app, guard, options);
        new ActionApi(Store, guard, Audit, options).Map(_app);
        new ApiV1(Store, guard, Audit, options, inventory?.Invoke(this)).Map(_app);
        if (realtime is not null) new TenantRealtimeApi(realtime(this)).Map(_app);
        if (taas is not null) new TaasApi(taas(this), new AdminGrant(guard, Audit, options)).Map(_app);
        RoutePolicies.Verify(_app);
        _app.StartAsync().GetAwaiter().GetResult();
        Base = new Uri(_app.Urls.First());
    }

    /// <summary>Sends a DescribeFlowLog GET signed with the key (at <paramref name="at"/>, default now); status and parsed body.</summary>
    public async Task<(int Status, JsonElement Body)> Describe(AccessKey? key, IEnumerable<KeyValuePair<string, string>> parameters, DateTimeOffset? at = null,
        Func<string, string>? tamper = null, Action<HttpRequestMessage>? prepare = null)
    {
        var p = new List<KeyValuePair<string, string>> { new("Version", "2016-03-01"), new("Action", "DescribeFlowLog") };
        p.AddRange(parameters);
        if (key is not null) Signatures.SignAction(p, key.Id, key.Secret, "GET", Base.Authority, at ?? DateTimeOffset.UtcNow);
        var query = string.Join('&', p.Select(kv => Signatures.Encode(kv.Key) + "=" + Signatures.Encode(kv.Value)));
        if (tamper is not null) query = tamper(query);
        return await Get(new Uri(Base, "/?" + query), prepare);
    }

    public async Task<(int Status, JsonElement Body)> Get(Uri url, Action<HttpRequestMessage>? prepare = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        prepare?.Invoke(request);
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        // NDJSON comes back as an array of its lines.
        var ndjson = response.Content.Headers.ContentType?.MediaType == "application/x-ndjson";
        using var doc = JsonDocument.Parse(ndjson ? "[" + string.Join(',', text.Split('\n', StringSplitOptions.RemoveEmptyEntries)) + "]" : text.Length == 0 ? "null" : text);
        return ((int)response.StatusCode, doc.RootElement.Clone());
    }

    /// <summary>Sends a signed /api/v1 GET.</summary>
    public Task<(int Status, JsonElement Body)> ApiGet(AccessKey key, string path, List<KeyValuePair<string, string>> query, string? adminPassword = null)
    {
        var url = new Uri(Base, path + (query.Count > 0 ? "?" + string.Join('&', query.Select(kv => Signatures.Encode(kv.Key) + "=" + Signatures.Encode(kv.Value))) : ""));
        return Get(url, r =>
        {
            r.Headers.TryAddWithoutValidation("Authorization", Signatures.ApiAuthorization(key.Id, key.Secret, "GET", path, query, [], DateTimeOffset.UtcNow));
            if (adminPassword is not null) r.Headers.Add(ApiV1.AdminPasswordHeader, adminPassword);
        });
    }

    /// <summary>Sends a signed /api/v1 GET and returns the answer as text, with its media type and headers.</summary>
    public async Task<(int Status, string Text, string? MediaType, System.Net.Http.Headers.HttpResponseHeaders Headers)> ApiGetText(AccessKey key, string path, List<KeyValuePair<string, string>> query)
    {
        var url = new Uri(Base, path + (query.Count > 0 ? "?" + string.Join('&', query.Select(kv => Signatures.Encode(kv.Key) + "=" + Signatures.Encode(kv.Value))) : ""));
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.TryAddWithoutValidation("Authorization", Signatures.ApiAuthorization(key.Id, key.Secret, "GET", path, query, [], DateTimeOffset.UtcNow));
        using var response = await Http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.MediaType, response.Headers);
    }

    /// <summary>Sends a signed /api/v1 request with an optional JSON body; status, parsed body and the response headers.</summary>
    public async Task<(int Status, JsonElement Body, System.Net.Http.Headers.HttpResponseHeaders Headers)> Send(AccessKey key, HttpMethod method, string path,
        List<KeyValuePair<string, string>> query, string? json = null, string? adminPassword = null)
    {
        var url = new Uri(Base, path + (query.Count > 0 ? "?" + string.Join('&', query.Select(kv => Signatures.Encode(kv.Key) + "=" + Signatures.Encode(kv.Value))) : ""));
        var bytes = json is null ? [] : System.Text.Encoding.UTF8.GetBytes(json);
        using var request = new HttpRequestMessage(method, url);
        request.Headers.TryAddWithoutValidation("Authorization", Signatures.ApiAuthorization(key.Id, key.Secret, method.Method, path, query, bytes, DateTimeOffset.UtcNow));
        if (adminPassword is not null) request.Headers.Add(ApiV1.AdminPasswordHeader, adminPassword);
        if (json is not null) request.Content = new ByteArrayContent(bytes) { Headers = { ContentType = new("application/json") } };
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var ndjson = response.Content.Headers.ContentType?.MediaType == "application/x-ndjson";
        using var doc = JsonDocument.Parse(ndjson ? "[" + string.Join(',', text.Split('\n', StringSplitOptions.RemoveEmptyEntries)) + "]" : text.Length == 0 ? "null" : text);
        return ((int)response.StatusCode, doc.RootElement.Clone(), response.Headers);
    }

    /// <summary>A time as DescribeFlowLog reads it (IST).</summary>
    public static string Ist(DateTimeOffset t) => DescribeFlowLog.Format(t, ApiOptions.Ist);

    public static FlowRecord Flow(SymbolNames names, string account, long startMicros, int i, byte direction)
    {
        return new FlowRecord
        {
            TimeReceived = startMicros, Start = startMicros, End = startMicros + 5_000_000,
            Protocol = FlowProtocol.Ipfix, Exporter = FlowAddress.FromV4(0xC0000201), ObsDomain = 1,
            IpVersion = 4, IpProto = 6,
            SrcAddr = FlowAddress.FromV4(0x0A000000u | (uint)(i & 0xFFFF)), DstAddr = FlowAddress.FromV4(0x0A010000u | (uint)(i * 7 & 0xFFFF)),
            SrcPort = (ushort)(40000 + i % 20000), DstPort = 443,
            Bytes = (ulong)(1000 + i), Packets = (ulong)(2 + i % 10), SampledBytes = (ulong)(1000 + i), SampledPackets = (ulong)(2 + i % 10), SamplingRate = 1,
            Account = names.Id(account), Vmi = names.Id(account + ":vmi-" + (i % 3)), VmiDirection = direction,
            SrcVn = names.Id("default-domain:" + account + ":net"), DstVn = names.Id("default-domain:services:public"),
            Action = FlowAction.Pass, SgRule = names.Id("bc5b4e1a-6403-4cf7-9b8a-c3e7d105dcf" + (i % 10)),
        };
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Http.Dispose();
        Store.Dispose();
        Dir.Delete(recursive: true);
    }
}

/// <summary>Names interned in a store's symbol table, by name.</summary>
public sealed class SymbolNames(Flowline.Query.IFlowStore store)
{
    private readonly Dictionary<string, uint> _ids = [];

    public uint Id(string name)
    {
        if (!_ids.TryGetValue(name, out var id)) _ids[name] = id = store.Symbols.Intern(name);
        return id;
    }
}
