using System.Text;

namespace Flowline.Cli.Tests;

/// <summary>Plain HTTP calls to a serve's REST API, answered with the status and the body.</summary>
internal static class Rest
{
    /// <summary>One client for every test; a minute is longer than any long-poll the tests make.</summary>
    public static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };

    public static (int Status, string Body) Send(HttpMethod method, string url, string? json = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = Http.Send(request);
        return ((int)response.StatusCode, response.Content.ReadAsStringAsync().GetAwaiter().GetResult());
    }
}
