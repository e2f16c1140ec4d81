using System.Text.Encodings.Web;
using Flowline.Records;

namespace Flowline.Cli.Decode;

/// <summary>
/// JSON written straight into the text buffer, laid out as <see cref="System.Text.Json.Utf8JsonWriter"/> lays it out
/// (indented by two spaces, or compact) and escaped by the same encoder, for `decode --format json|jsonl`: a flow's
/// values go from the record to UTF-8 once, where the writer took a string per value (a tenth of the speed).
/// Every value is a string, as in sflowtool's JSON.
/// </summary>
internal sealed class JsonText(Utf8TextWriter w, bool indented)
{
    private int _depth;
    private bool _empty = true;

    /// <summary>Before the next top-level value (a datagram's object).</summary>
    public void Reset()
    {
        _depth = 0;
        _empty = true;
    }

    public void StartObject()
    {
        Member();
        Open((byte)'{');
    }

    public void StartObject(ReadOnlySpan<byte> name)
    {
        Name(name);
        Open((byte)'{');
    }

    public void StartArray(ReadOnlySpan<byte> name)
    {
        Name(name);
        Open((byte)'[');
    }

    public void EndObject() => Close((byte)'}');

    public void EndArray() => Close((byte)']');

    /// <summary>A member whose value is text from outside (an agent's host name, an error): escaped.</summary>
    public void String(ReadOnlySpan<byte> name, string value)
    {
        Name(name);
        Quoted(value);
    }

    /// <summary>A member whose name is text from outside as well (a counter structure's field names).</summary>
    public void String(string name, string value)
    {
        Member();
        Quoted(name);
        w.Raw(indented ? ": "u8 : ":"u8);
        Quoted(value);
    }

    public void Number(ReadOnlySpan<byte> name, ulong value)
    {
        Name(name);
        w.Byte((byte)'"');
        w.Number(value);
        w.Byte((byte)'"');
    }

    /// <summary>A flow field's value as the CSV writes it; every decoded field's text is plain ASCII that needs no escape.</summary>
    public void Field(FlowField f, in FlowRecord r)
    {
        Name(FlowFields.Utf8Name(f));
        w.Byte((byte)'"');
        FlowFields.Write(w, f, r);
        w.Byte((byte)'"');
    }

    private void Member()
    {
        if (!_empty) w.Byte((byte)',');
        _empty = false;
        if (indented && _depth > 0) NewLine();
    }

    private void Name(ReadOnlySpan<byte> name)
    {
        Member();
        w.Byte((byte)'"');
        w.Raw(name);
        w.Raw(indented ? "\": "u8 : "\":"u8);
    }

    private void Open(byte bracket)
    {
        w.Byte(bracket);
        _depth++;
        _empty = true;
    }

    private void Close(byte bracket)
    {
        _depth--;
        if (indented && !_empty) NewLine();
        w.Byte(bracket);
        _empty = false;
    }

    private void NewLine()
    {
        w.Byte((byte)'\n');
        for (var i = 0; i < _depth; i++) w.Raw("  "u8);
    }

    private void Quoted(string value)
    {
        w.Byte((byte)'"');
        // The encoder Utf8JsonWriter uses by default: the same escapes, byte for byte (the string itself when none is needed).
        w.Text(JavaScriptEncoder.Default.Encode(value));
        w.Byte((byte)'"');
    }
}
