using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Flowline.Api;

/// <summary>
/// The one place a request's right to a route is checked, before any handler runs: the route's
/// <see cref="AccessPolicy"/> from <see cref="RoutePolicies"/>, the request's signature (the Authorization
/// header, <see cref="Signatures"/>), the key's role, the scrape token, loopback when opted in, and that a
/// state-changing request is neither cross-site nor a form a browser could send from another site.
/// The key found is handed to the face in <see cref="HttpContext.Items"/> (<see cref="KeyOf"/>).
/// </summary>
public sealed class DoorKeeper(RequestGuard guard, ApiOptions options)
{
    private static readonly object KeyItem = new();
    private static readonly object LoopbackItem = new();

    /// <summary>The access key the door admitted the request with; null when it came in by token or loopback.</summary>
    public static AccessKey? KeyOf(HttpContext context) => context.Items.TryGetValue(KeyItem, out var k) ? k as AccessKey : null;

    /// <summary>Whether the request could also have opened the sFlow-RT face's write doors (an admin key, or loopback opted in).</summary>
    public static bool MayChangeRealtime(HttpContext context) => KeyOf(context) is { Admin: true } || context.Items.ContainsKey(LoopbackItem);

    public async Task Invoke(HttpContext context, RequestDelegate next)
    {
        try
        {
            await Open(context, next);
        }
        catch (InvalidOperationException e) when (!context.Response.HasStarted && e.TargetSite?.DeclaringType?.Namespace == "System.Text.Json")
        {
            // Valid JSON whose strings are not text (a lone surrogate escape, bytes that are not UTF-8): System.Text.Json
            // finds out only when a handler reads the string. Whichever handler it was, the body is at fault.
            await Refuse(context, new ApiError(400, "MalformedBody", $"the body holds a string that is not valid Unicode ({e.Message})"));
        }
    }

    private async Task Open(HttpContext context, RequestDelegate next)
    {
        if (context.GetEndpoint() is not RouteEndpoint endpoint)
        {
            await next(context); // 404 and 405 are the router's answers.
            return;
        }
        var request = context.Request;
        var policy = RoutePolicies.Of(request.Method, endpoint.RoutePattern.RawText)
                     ?? (HttpMethods.IsHead(request.Method) ? RoutePolicies.Of("GET", endpoint.RoutePattern.RawText) : null);
        if (policy is null)
        {
            // Verify() refuses to start with such a route; a door without a lock stays shut all the same.
            await Refuse(context, new ApiError(403, "NoPolicy", $"{request.Method} {endpoint.RoutePattern.RawText} declares no access policy"));
            return;
        }
        var limit = policy.LargeBody ? options.MaxUploadBody : options.MaxRequestBody;
        if (request.ContentLength > limit)
        {
            // Refused on its headers alone: no byte of the body is read, no signature work is done.
            context.Response.Headers.Connection = "close";
            await Refuse(context, TooLarge(request.Method, endpoint.RoutePattern.RawText, limit, policy.LargeBody));
            return;
        }
        // A body without a length (chunked) is cut off at the same limit as it is read.
        if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = limit;
        if (CrossSite(context, policy) is { } crossSite)
        {
            await Refuse(context, crossSite);
            return;
        }
        if (policy.Door == Door.Open || policy.SignedInQuery)
        {
            await next(context);
            return;
        }
        if (policy.LoopbackOptIn && options.RealtimeOpenOnLoopback && Loopback(context.Connection.RemoteIpAddress))
        {
            context.Items[LoopbackItem] = true;
            await next(context);
            return;
        }
        var from = context.Connection.RemoteIpAddress;
        var header = request.Headers.Authorization.ToString();
        if (policy.ScrapeToken && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            if (guard.Blocked(from) is { } blocked)
            {
                await Refuse(context, blocked);
                return;
            }
            if (options.ScrapeToken is not { Length: > 0 } token || !Signatures.Same(token, header[7..].Trim()))
            {
                guard.Fail(from);
                await Refuse(context, new ApiError(401, "AuthFailure", "the bearer token is not this server's scrape_token"));
                return;
            }
            await next(context);
            return;
        }
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            // The scrape token reads; "not signed" would not tell its holder why a change it sends is refused.
            guard.Fail(from);
            await Refuse(context, new ApiError(401, "AuthFailure",
                $"a bearer token (scrape_token) opens only reads of the sFlow-RT face and /metrics: {request.Method} {endpoint.RoutePattern.RawText} needs a request signed by an access key (docs/API.md)"));
            return;
        }
        var (key, error) = await Authenticate(context, header, policy.LargeBody, limit);
        if (error is not null)
        {
            await Refuse(context, error);
            return;
        }
        if (RoleRefusal(policy, key!, $"{request.Method} {endpoint.RoutePattern.RawText}") is { } role)
        {
            guard.Fail(from);
            await Refuse(context, role);
            return;
        }
        context.Items[KeyItem] = key;
        await next(context);
    }

    /// <summary>
    /// Whether a key of its kind may open a door of <paramref name="policy"/>: an admin door takes admin keys, an
    /// agent door agent keys, and an agent key opens no other door. Every signed door asks this, whether the
    /// signature came in a header or in the query (the Action API).
    /// </summary>
    public static ApiError? RoleRefusal(AccessPolicy policy, AccessKey key, string route)
    {
        if (policy.Door == Door.Admin && !key.Admin)
        {
            return new ApiError(403, "UnauthorizedOperation", $"the access key {key.Id} belongs to {key.Account} and is not an admin key: {route} is for operators");
        }
        if (policy.Door != Door.Agent && key.Agent is not null)
        {
            return new ApiError(403, "UnauthorizedOperation", $"the access key {key.Id} is agent {key.Agent}'s: it sends that agent's session batches and opens no other door");
        }
        if (policy.Door == Door.Agent && key.Agent is null)
        {
            return new ApiError(403, "UnauthorizedOperation", $"the access key {key.Id} is not an agent key: agents sign with a key bound to their name (flowline keys create --account ACC --agent NAME)");
        }
        return null;
    }

    /// <summary>Checks the Authorization header's signature over the method, path, query, timestamp and body.</summary>
    private async Task<(AccessKey? Key, ApiError? Error)> Authenticate(HttpContext context, string header, bool largeBody, long limit)
    {
        var from = context.Connection.RemoteIpAddress;
        if (guard.Blocked(from) is { } blocked) return (null, blocked);
        var auth = Signatures.ParseAuthorization(header, out var problem);
        if (auth is null)
        {
            // A request without credentials guesses nothing: a client missing its key is told so, not counted,
            // so that it cannot lock out the operators who share its address.
            if (header.Length > 0) guard.Fail(from);
            return (null, new ApiError(401, "AuthFailure",
                (problem is null ? "the request is not signed" : $"the Authorization header is not understood: {problem}") + $"; send 'Authorization: {Signatures.Scheme} Credential=KEY, Timestamp=yyyy-MM-ddTHH:mm:ssZ, Nonce=RANDOM, Signature=HEX' (Nonce optional; see docs/API.md)"));
        }
        var request = context.Request;
        if (largeBody && guard.Preflight(auth.Value.KeyId, auth.Value.Timestamp) is { } early)
        {
            // A large body is read only for a key this server knows, within the signature window.
            guard.Fail(from);
            return (null, early);
        }
        // The body is hashed as it comes in; the buffer it is kept in for the handler spills to a file beyond 30 KB.
        request.EnableBuffering();
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            int n;
            while ((n = await request.Body.ReadAsync(chunk, context.RequestAborted)) > 0) sha.AppendData(chunk, 0, n);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            context.Response.Headers.Connection = "close";
            return (null, TooLarge(request.Method, request.Path, limit, largeBody));
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }
        request.Body.Position = 0;
        var bodyHash = sha.GetHashAndReset();
        var query = request.Query.SelectMany(q => q.Value.Select(v => new KeyValuePair<string, string>(q.Key, v ?? ""))).ToList();
        var path = request.Path.Value ?? "/";
        return guard.Check(from, auth.Value.KeyId, auth.Value.Timestamp, auth.Value.Signature,
            secret => Signatures.ApiSignature(secret, Signatures.ApiStringToSignOfHash(request.Method, path, query, auth.Value.Timestamp, bodyHash, auth.Value.Nonce)),
            "Credential", $"{request.Method}\\n{path}\\n<sorted query>\\n<timestamp>\\n<hex SHA-256 of the body>[\\n<nonce>]");
    }

    /// <summary>
    /// A state change a browser could be made to send from another site: marked cross-site by the browser,
    /// or a body of a type a plain HTML form sends (state-changing routes take JSON only).
    /// </summary>
    private static ApiError? CrossSite(HttpContext context, AccessPolicy policy)
    {
        var request = context.Request;
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method)) return null;
        if (policy.SignedInQuery) return null; // DescribeFlowLog reads; JCS clients POST forms by design.
        if (request.Headers["Sec-Fetch-Site"].ToString() == "cross-site")
        {
            return new ApiError(403, "CrossSiteRequest", "cross-site requests may not change anything here");
        }
        var type = request.ContentType?.Split(';')[0].Trim().ToLowerInvariant();
        if (type is "application/x-www-form-urlencoded" or "multipart/form-data" or "text/plain")
        {
            return new ApiError(415, "UnsupportedMediaType",
                $"{request.Method} takes a JSON body, not {type}: send it with 'Content-Type: application/json' (curl -H 'Content-Type: application/json')");
        }
        return null;
    }

    private static ApiError TooLarge(string method, string? route, long limit, bool largeBody) =>
        new(413, "PayloadTooLarge", $"{method} {route} takes a body of at most {limit:N0} bytes ({(largeBody ? "max_upload_body" : "max_request_body")})");

    private static bool Loopback(IPAddress? a) => a is not null && IPAddress.IsLoopback(a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a);

    /// <summary>The refusal in /api/v1's error shape, with the scheme to sign with on a 401.</summary>
    public static Task Refuse(HttpContext context, ApiError error)
    {
        if (error.Status == 401) context.Response.Headers.WWWAuthenticate = Signatures.Scheme;
        return ApiV1.Error(context, error, null);
    }
}
