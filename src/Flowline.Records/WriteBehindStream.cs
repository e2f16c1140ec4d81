using System.Runtime.ExceptionServices;

namespace Flowline.Records;

/// <summary>
/// A write-only stream that hands full buffers to a thread of its own, which writes them to the inner stream in
/// order. The producer formats the next buffer while the kernel copies the last one: for large text outputs
/// (a 200 MB CSV file) the write system calls are about a third of the work and no longer on the critical path.
/// At most <c>buffers</c> buffers are in flight; a producer that gets ahead waits. A failed write (a closed pipe,
/// a full disk) is thrown, as itself, by the next Write or Flush; buffers after it are dropped.
/// </summary>
public sealed class WriteBehindStream : Stream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly object _lock = new();
    private readonly Queue<(byte[] Buffer, int Length)> _full = new();
    private readonly Stack<byte[]> _free = new();
    private readonly Thread _thread;
    private byte[] _current;
    private int _position;
    private bool _writing;
    private bool _closing;
    private ExceptionDispatchInfo? _error;

    public WriteBehindStream(Stream inner, int bufferSize = 1 << 20, int buffers = 4, bool leaveOpen = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(buffers, 2);
        _inner = inner;
        _leaveOpen = leaveOpen;
        _current = new byte[bufferSize];
        for (var i = 1; i < buffers; i++) _free.Push(new byte[bufferSize]);
        _thread = new Thread(Run) { IsBackground = true, Name = "write-behind" };
        _thread.Start();
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> source)
    {
        while (source.Length > 0)
        {
            var n = Math.Min(source.Length, _current.Length - _position);
            source[..n].CopyTo(_current.AsSpan(_position));
            _position += n;
            source = source[n..];
            if (_position == _current.Length) HandOver();
        }
    }

    public override void WriteByte(byte value) => Write([value]);

    /// <summary>Waits until everything written so far is in the inner stream, then flushes it.</summary>
    public override void Flush()
    {
        if (_position > 0) HandOver();
        lock (_lock)
        {
            while ((_full.Count > 0 || _writing) && _error is null) Monitor.Wait(_lock);
            _error?.Throw();
        }
        _inner.Flush();
    }

    private void HandOver()
    {
        lock (_lock)
        {
            _error?.Throw();
            _full.Enqueue((_current, _position));
            Monitor.PulseAll(_lock);
            while (_free.Count == 0 && _error is null) Monitor.Wait(_lock);
            _error?.Throw();
            _current = _free.Pop();
        }
        _position = 0;
    }

    private void Run()
    {
        while (true)
        {
            byte[] buffer;
            int length;
            lock (_lock)
            {
                while (_full.Count == 0 && !_closing) Monitor.Wait(_lock);
                if (_full.Count == 0) return;
                (buffer, length) = _full.Dequeue();
                _writing = true;
            }
            try
            {
                _inner.Write(buffer, 0, length);
            }
            catch (Exception e)
            {
                lock (_lock)
                {
                    _error = ExceptionDispatchInfo.Capture(e);
                    _full.Clear();
                    _writing = false;
                    Monitor.PulseAll(_lock);
                }
                return;
            }
            lock (_lock)
            {
                _free.Push(buffer);
                _writing = false;
                Monitor.PulseAll(_lock);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_closing)
        {
            try
            {
                // What was written and not flushed still goes out, as from any buffered stream; an error then is
                // not thrown from Dispose (it was or will be reported by the Flush the caller makes).
                if (_position > 0 && _error is null) HandOver();
            }
            catch (Exception)
            {
            }
            lock (_lock)
            {
                _closing = true;
                Monitor.PulseAll(_lock);
            }
            _thread.Join();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
