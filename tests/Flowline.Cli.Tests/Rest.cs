using System.Text;

namespace Flowline.Cli.Tests;

/// <summary>Plain HTTP calls to a serve's REST API, answered with the status and the body.</summary>
internal static class Rest
{
    /// <summary>One client for every test; a minute is longer than any long-poll the tests make.</summary>
    public static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };

    public static (int Status, string Body) Send(HttpMethod method, string url, string? json = null, Flowline.Api.AccessKey? key = null,
        string? bearer = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        if (key is not null)
        {
            var uri = new Uri(url);
            var query = System.Web.HttpUtility.ParseQueryString(uri.Query);
            var pairs = query.AllKeys.SelectMany(k => query.GetValues(k)!.Select(v => new KeyValuePair<string, string>(k!, v))).ToList();
            request.Headers.TryAddWithoutValidation("Authorization", Flowline.Api.Signatures.ApiAuthorization(key.Id, key.Secret, method.Method,
                uri.AbsolutePath, pairs, json is null ? [] : Encoding.UTF8.GetBytes(json), DateTimeOffset.UtcNow));
        }
        if (bearer is not null) request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + bearer);
        using var response = Http.Send(request);
        return ((int)response.StatusCode, response.Content.ReadAsStringAsync().GetAwaiter().GetResult());
    }
}
