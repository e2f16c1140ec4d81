namespace Flowline.Records;

/// <summary>A command's help or usage text as the terminal should show it.</summary>
public static class HelpText
{
    /// <summary>
    /// Writes <paramref name="text"/> ending in one newline: texts written as raw string literals end without
    /// one, and the shell's prompt would otherwise follow on their last line.
    /// </summary>
    public static void Print(TextWriter to, string text)
    {
        to.Write(text);
        if (!text.EndsWith('\n')) to.Write('\n');
    }
}
