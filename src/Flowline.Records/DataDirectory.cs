namespace Flowline.Records;

/// <summary>
/// Directories that hold flows, keys and state: made readable by their owner alone (0700) when Flowline
/// creates them. A directory that exists already keeps the mode its operator gave it.
/// </summary>
public static class DataDirectory
{
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static void Create(string path)
    {
        if (Directory.Exists(path)) return;
        var parent = Path.GetDirectoryName(Path.GetFullPath(path));
        if (parent is { Length: > 0 } && !Directory.Exists(parent)) Directory.CreateDirectory(parent);
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(path);
        else Directory.CreateDirectory(path, Mode);
    }
}
