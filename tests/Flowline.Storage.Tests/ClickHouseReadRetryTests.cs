using System.Net;
using System.Net.Sockets;
using System.Text;
using Flowline.Storage.ClickHouse;

namespace Flowline.Storage.Tests;

/// <summary>
/// A read ClickHouse refuses with UNEXPECTED_PACKET_FROM_CLIENT (101), which an 18.x server of a cluster answers when
/// it picked a connection to another shard that a cancelled read left dirty, is sent again; other refusals are not.
/// The server here answers as ClickHouse's HTTP interface does (status 500, the code in X-ClickHouse-Exception-Code).
/// </summary>
public sealed class ClickHouseReadRetryTests
{
    private static (HttpListener Server, Uri Url) Listen()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var server = new HttpListener();
        server.Prefixes.Add($"http://127.0.0.1:{port}/");
        server.Start();
        return (server, new Uri($"http://127.0.0.1:{port}/"));
    }

    private static async Task<int> Answer(HttpListener server, params int[] codes)
    {
        var requests = 0;
        foreach (var code in codes)
        {
            var context = await server.GetContextAsync();
            requests++;
            var body = code == 0 ? "answer\n" : $"Code: {code}, e.displayText() = DB::Exception: refused, e.what() = DB::Exception\n";
            if (code != 0)
            {
                context.Response.StatusCode = 500;
                context.Response.AddHeader("X-ClickHouse-Exception-Code", code.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            var bytes = Encoding.UTF8.GetBytes(body);
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
        return requests;
    }

    [Fact]
    public async Task A_read_refused_for_a_stale_cluster_connection_is_sent_again()
    {
        var (server, url) = Listen();
        using (server)
        {
            var answering = Answer(server, 101, 101, 0);
            using var client = new ClickHouseClient(url, "flowline");
            using var response = await Task.Run(() => client.Query("SELECT 1 FORMAT Native"));
            Assert.Equal("answer\n", await response.Content.ReadAsStringAsync());
            Assert.Equal(3, await answering);
        }
    }

    [Fact]
    public async Task Other_refusals_and_a_third_stale_connection_are_reported()
    {
        var (server, url) = Listen();
        using (server)
        {
            using var client = new ClickHouseClient(url, "flowline");
            var answering = Answer(server, 60);
            Assert.Equal(60, (await Assert.ThrowsAsync<ClickHouseException>(() => Task.Run(() => client.Query("SELECT 1 FORMAT Native")))).Code);
            Assert.Equal(1, await answering);
            answering = Answer(server, 101, 101, 101);
            Assert.Equal(101, (await Assert.ThrowsAsync<ClickHouseException>(() => Task.Run(() => client.Query("SELECT 1 FORMAT Native")))).Code);
            Assert.Equal(3, await answering);
        }
    }
}
