using System.Runtime.ExceptionServices;
using Flowline.Records;
using Flowline.Storage.Segments;

namespace Flowline.Storage.Compaction;

/// <summary>
/// Encodes and writes a merge's output blocks on a second thread (at the background priority) while the
/// merge fills the next one: merging and compressing overlap on two cores. One block is in flight at a
/// time; the caller gets back the previous block, written, to fill again.
/// </summary>
internal sealed class BlockEncoder : IDisposable
{
    private readonly Thread _thread;
    private readonly SemaphoreSlim _work = new(0);
    private readonly SemaphoreSlim _idle = new(1);
    private FlowBatch? _block;
    private SegmentFile.Writer? _writer;
    private Action<FlowBatch>? _onBlock;
    private Exception? _error;
    private volatile bool _stop;

    public BlockEncoder()
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = "flowline-encode" };
        _thread.Start();
    }

    private void Loop()
    {
        BackgroundPriority.Apply();
        while (true)
        {
            _work.Wait();
            if (_stop) return;
            try
            {
                _onBlock?.Invoke(_block!);
                _writer!.AppendBlock(_block!, 0, _block!.Count);
            }
            catch (Exception e)
            {
                _error = e;
            }
            _idle.Release();
        }
    }

    /// <summary>
    /// Hands over a full block, to be seen by <paramref name="onBlock"/> and written to <paramref name="writer"/>;
    /// returns the block handed over before (written by now), or null. Throws what writing an earlier block threw.
    /// </summary>
    public FlowBatch? Submit(FlowBatch block, SegmentFile.Writer writer, Action<FlowBatch>? onBlock)
    {
        _idle.Wait();
        var previous = _block;
        if (Interlocked.Exchange(ref _error, null) is { } failed)
        {
            _block = null;
            _idle.Release();
            ExceptionDispatchInfo.Capture(failed).Throw();
        }
        (_block, _writer, _onBlock) = (block, writer, onBlock);
        _work.Release();
        return previous;
    }

    /// <summary>Waits for the block in flight and returns it (or null); throws what writing it threw.</summary>
    public FlowBatch? Finish()
    {
        _idle.Wait();
        var last = _block;
        (_block, _writer, _onBlock) = (null, null, null);
        var failed = Interlocked.Exchange(ref _error, null);
        _idle.Release();
        if (failed is not null) ExceptionDispatchInfo.Capture(failed).Throw();
        return last;
    }

    /// <summary>Waits for the block in flight without reporting its outcome (a merge that is failing anyway).</summary>
    public FlowBatch? Quiesce()
    {
        try
        {
            return Finish();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        _stop = true;
        _work.Release();
        _thread.Join();
    }
}
