namespace Flowline.Query;

/// <summary>The filter's words: how the text is cut into tokens, and the cursor over them.</summary>
public sealed partial class FilterParser
{
    private static List<(string, int)> Tokenize(string text)
    {
        var tokens = new List<(string, int)>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c) || c == ',')
            {
                i++;
                continue;
            }
            if (c == '#')
            {
                // A comment, as in nfdump's filter files: to the end of the line.
                while (i < text.Length && text[i] != '\n') i++;
                continue;
            }
            var start = i;
            if (c is '(' or ')' or '[' or ']')
            {
                i++;
            }
            else if (c is '&' or '|' && i + 1 < text.Length && text[i + 1] == c)
            {
                i += 2;
            }
            else if (c is '=' or '!' or '<' or '>')
            {
                i++;
                if (i < text.Length && text[i] == '=') i++;
            }
            else
            {
                // A word ends where an operator begins, spaced or not: 'proto tcp&&port 443' is three terms' words. A '#'
                // inside a word is part of it (a tag or network name may hold one): it starts a comment only where a word would.
                while (i < text.Length && !char.IsWhiteSpace(text[i]) && text[i] is not ('(' or ')' or '[' or ']' or ',' or '=' or '!' or '<' or '>')
                       && !(text[i] is '&' or '|' && i + 1 < text.Length && text[i + 1] == text[i]))
                {
                    i++;
                }
            }
            tokens.Add((text[start..i], start + 1));
        }
        return tokens;
    }

    private string? Peek => _position < _tokens.Count ? _tokens[_position].Text : null;

    private int Column => _position < _tokens.Count ? _tokens[_position].Column : _text.Length + 1;

    private bool Accept(params string[] words)
    {
        if (Peek is { } t && words.Any(w => string.Equals(w, t, StringComparison.OrdinalIgnoreCase)))
        {
            _position++;
            return true;
        }
        return false;
    }

    private string Take(string what)
    {
        if (Peek is not { } t)
        {
            throw Error($"expected {what}, found the end of the filter");
        }
        _position++;
        return t;
    }

    private FilterSyntaxException Error(string message) => new(_text, Column, message);

    private FilterSyntaxException ErrorAt(int column, string message) => new(_text, column, message);
}
