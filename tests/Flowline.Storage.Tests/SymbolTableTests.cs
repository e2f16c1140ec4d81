using Flowline.Storage;

namespace Flowline.Storage.Tests;

public sealed class SymbolTableTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("flowline-symbols-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Ids_survive_reopening_and_names_are_added_once()
    {
        var table = new SymbolTable(_dir.FullName);
        var ids = table.Intern(["acc-1", "vmi-1", "acc-1", "héllo wörld"]);
        Assert.Equal([1u, 2u, 1u, 3u], ids);
        Assert.Equal([2u, 4u], table.Intern(["vmi-1", "new"]));
        var again = new SymbolTable(_dir.FullName);
        Assert.Equal(4, again.Count);
        Assert.Equal("héllo wörld", again.Name(3));
        Assert.True(again.TryFind("new", out var id) && id == 4);
        Assert.Null(again.Name(0));
        Assert.Null(again.Name(99));
    }

    [Fact]
    public void A_torn_last_entry_is_cut_off_and_its_id_given_again()
    {
        var table = new SymbolTable(_dir.FullName);
        table.Intern(["one", "two"]);
        var path = Path.Combine(_dir.FullName, SymbolTable.FileName);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^3]); // a crash in the middle of writing "two"
        var reopened = new SymbolTable(_dir.FullName);
        Assert.Equal(1, reopened.Count);
        Assert.Equal(2u, reopened.Intern("three"));
        Assert.Equal("three", new SymbolTable(_dir.FullName).Name(2));
    }

    [Fact]
    public void A_reader_sees_names_the_writer_added_after_it_opened()
    {
        var writer = new SymbolTable(_dir.FullName);
        writer.Intern("first");
        var reader = new SymbolTable(_dir.FullName, readOnly: true);
        writer.Intern("second");
        Assert.Equal("second", reader.Name(2));
        Assert.True(reader.TryFind("second", out var id) && id == 2);
        Assert.Throws<InvalidOperationException>(() => reader.Intern("third"));
    }

    [Fact]
    public void A_file_that_is_not_a_symbol_table_is_refused()
    {
        File.WriteAllText(Path.Combine(_dir.FullName, SymbolTable.FileName), "something else entirely");
        Assert.Throws<InvalidDataException>(() => new SymbolTable(_dir.FullName));
    }
}
