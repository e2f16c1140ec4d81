using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Flowline.Cli.Decode;

/// <summary>
/// Standard output as a plain file stream (unlike the console stream it reports EPIPE, so `decode … | head`
/// stops when its reader goes). On a redirected file it writes at its own position: once done it moves the
/// descriptor's offset, which the shell shares with the commands after it, to the end of what it wrote, so
/// that `(flowline decode a; flowline decode b) > all.csv` keeps both.
/// </summary>
internal sealed class StandardOutputFile() : FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1)
{
    protected override void Dispose(bool disposing)
    {
        if (disposing && CanSeek)
        {
            try
            {
                Flush();
                _ = Seek(1, Position, 0);
            }
            catch (IOException)
            {
                // The write already failed and says why.
            }
        }
        base.Dispose(disposing);
    }

    [DllImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static extern long Seek(int fd, long offset, int whence);
}
