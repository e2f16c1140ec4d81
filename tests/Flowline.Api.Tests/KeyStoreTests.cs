using Flowline.Api;

namespace Flowline.Api.Tests;

public sealed class KeyStoreTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-keys-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Keys_survive_reopening_and_their_secrets_are_not_stored_in_clear()
    {
        var store = KeyStore.Open(_dir.FullName);
        var tenant = store.Create("acc-1001", admin: false);
        var admin = store.Create("acc-ops", admin: true);
        Assert.Matches("^FLK[A-Z2-7]{17}$", tenant.Id);
        Assert.Equal(40, tenant.Secret.Length);
        Assert.NotEqual(tenant.Secret, admin.Secret);

        var reopened = KeyStore.Open(_dir.FullName);
        Assert.Equal(tenant, reopened.Find(tenant.Id));
        Assert.True(reopened.Find(admin.Id)!.Admin);
        var onDisk = File.ReadAllText(Path.Combine(_dir.FullName, "keys.json"));
        Assert.DoesNotContain(tenant.Secret, onDisk, StringComparison.Ordinal);
        Assert.DoesNotContain(admin.Secret, onDisk, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir.FullName, "keys.key")));
    }

    [Fact]
    public void A_running_node_takes_the_keys_and_key_file_copied_onto_it_one_after_the_other()
    {
        var first = Path.Combine(_dir.FullName, "api1");
        var second = Path.Combine(_dir.FullName, "api2");
        var made = KeyStore.Open(first).Create("acc-1001", admin: false);
        var running = KeyStore.Open(second);
        var own = running.Create("acc-2002", admin: false);
        // keys.json first: its secrets do not open with this node's keys.key yet; the keys in force stay.
        File.Copy(Path.Combine(first, "keys.json"), Path.Combine(second, "keys.json"), overwrite: true);
        Assert.Equal(own, running.Find(own.Id));
        Assert.Null(running.Find(made.Id));
        // Then keys.key: the pair agrees and the copied keys open.
        File.Copy(Path.Combine(first, "keys.key"), Path.Combine(second, "keys.key"), overwrite: true);
        Assert.Equal(made, running.Find(made.Id));
        Assert.Null(running.Find(own.Id));
    }

    [Fact]
    public void A_revoked_key_stays_listed_and_another_process_sees_the_change()
    {
        var server = KeyStore.Open(_dir.FullName);
        var key = server.Create("acc-1001", admin: false);
        Assert.True(server.Find(key.Id)!.Active);
        var cli = KeyStore.Open(_dir.FullName);
        Assert.True(cli.Revoke(key.Id));
        Assert.False(cli.Revoke("FLKNOSUCHKEY"));
        Assert.NotNull(server.Find(key.Id)!.Revoked);
        Assert.Single(server.List());
    }

    [Fact]
    public void Secrets_do_not_open_under_another_key_file()
    {
        KeyStore.Open(_dir.FullName).Create("acc-1001", admin: false);
        File.WriteAllBytes(Path.Combine(_dir.FullName, "keys.key"), new byte[32]);
        var e = Assert.Throws<InvalidDataException>(() => KeyStore.Open(_dir.FullName));
        Assert.Contains("does not open with keys.key", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1001")]
    [InlineData("acc-")]
    [InlineData("acc-a b")]
    [InlineData("acc-x&account=acc-y")]
    public void Only_account_ids_get_keys(string account) =>
        Assert.Throws<ArgumentException>(() => KeyStore.Open(_dir.FullName).Create(account, admin: false));
}
