using System.Buffers.Binary;
using System.Text.Json;
using Flowline.Records;
using Flowline.Storage.Segments;

namespace Flowline.Storage.Agents;

/// <summary>
/// What `flowline agent` ships to a collector: the session rows and the per-port flow rows of a stretch of
/// time, as two segments of the store's own columnar format (per-column encodings, Brotli, checksums), and
/// the names behind the symbol ids they use (ids are local to the agent). The file:
/// <code>
/// "FLBATCH1"  u32 header length  header (JSON: agent, sequence, time, names {id: name}, sessions, flows: byte lengths)
/// sessions segment  flows segment
/// </code>
/// A session takes 20–40 bytes this way where seed 001's JSON took about 680.
/// </summary>
public static class AgentBatch
{
    public const string ContentType = "application/vnd.flowline.agent-batch";
    public const string Extension = ".flb";
    private static ReadOnlySpan<byte> Magic => "FLBATCH1"u8;
    /// <summary>A header this long is refused (names of a batch take kilobytes).</summary>
    public const int MaxHeaderBytes = 64 << 20;

    public sealed record Header(string Agent, long Sequence, long Time, Dictionary<uint, string> Names, long Sessions, long Flows);

    /// <summary>True when <paramref name="body"/> starts as a batch does (else it is seed 001's JSON).</summary>
    public static bool IsBatch(ReadOnlySpan<byte> body) => body.StartsWith(Magic);

    /// <summary>
    /// Builds a batch: rows are encoded block by block as they come (memory stays at a block), into two
    /// segment files beside the backlog; <see cref="Seal"/> writes the batch file and starts afresh.
    /// </summary>
    public sealed class Builder : IDisposable
    {
        private readonly string _dir;
        private readonly int _blockRows;
        private SegmentFile.Writer? _sessions, _flows;
        private readonly FlowBatch _pendingSessions, _pendingFlows;
        private readonly HashSet<uint> _ids = [];

        public Builder(string dir, int blockRows = 8192)
        {
            (_dir, _blockRows) = (dir, blockRows);
            _pendingSessions = new FlowBatch(blockRows);
            _pendingFlows = new FlowBatch(blockRows);
            foreach (var stale in Directory.EnumerateFiles(dir, "open-*")) File.Delete(stale);
        }

        /// <summary>Rows added since the last seal.</summary>
        public long Rows { get; private set; }
        public long SessionRows { get; private set; }
        public long FlowRows { get; private set; }

        public void AddSessions(FlowBatch rows) => Add(rows, _pendingSessions, ref _sessions, "open-sessions", sessions: true);

        public void AddFlows(FlowBatch rows) => Add(rows, _pendingFlows, ref _flows, "open-flows", sessions: false);

        private void Add(FlowBatch rows, FlowBatch pending, ref SegmentFile.Writer? writer, string name, bool sessions)
        {
            for (var at = 0; at < rows.Count;)
            {
                var n = Math.Min(rows.Count - at, _blockRows - pending.Count);
                pending.AppendRange(rows, at, n);
                at += n;
                if (pending.Count == _blockRows) Encode(pending, ref writer, name);
            }
            Rows += rows.Count;
            if (sessions) SessionRows += rows.Count;
            else FlowRows += rows.Count;
        }

        private void Encode(FlowBatch pending, ref SegmentFile.Writer? writer, string name)
        {
            if (pending.Count == 0) return;
            foreach (var field in FlowBatch.Fields)
            {
                if (!FlowFields.IsSymbol(field) || pending.IsZeroColumn(field)) continue;
                foreach (var id in System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(pending.ColumnValues(field, pending.Count)))
                {
                    if (id != 0) _ids.Add(id);
                }
            }
            writer ??= new SegmentFile.Writer(Path.Combine(_dir, name + ".seg"), SegmentCodec.Zstd);
            writer.AppendBlock(pending, 0, pending.Count);
            pending.Clear();
        }

        /// <summary>
        /// Writes what was added as batch file <paramref name="path"/> (durably: written whole, then renamed)
        /// and starts a new batch; returns false (and writes nothing) when nothing was added.
        /// </summary>
        public bool Seal(string path, string agent, long sequence, long time, ISymbolNames names)
        {
            Encode(_pendingSessions, ref _sessions, "open-sessions");
            Encode(_pendingFlows, ref _flows, "open-flows");
            if (Rows == 0) return false;
            var parts = new List<string>();
            long Finish(ref SegmentFile.Writer? w, string name)
            {
                if (w is null) return 0;
                w.Complete();
                w.Dispose();
                w = null;
                var p = Path.Combine(_dir, name + ".seg");
                parts.Add(p);
                return new FileInfo(p).Length;
            }
            var sessionBytes = Finish(ref _sessions, "open-sessions");
            var flowBytes = Finish(ref _flows, "open-flows");
            var header = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
            {
                ["agent"] = agent, ["sequence"] = sequence, ["time"] = time,
                ["names"] = _ids.ToDictionary(id => id.ToString(System.Globalization.CultureInfo.InvariantCulture), id => names.Name(id) ?? ""),
                ["sessions"] = sessionBytes, ["flows"] = flowBytes,
            });
            AtomicFile.Write(path, stream =>
            {
                stream.Write(Magic);
                Span<byte> length = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)header.Length);
                stream.Write(length);
                stream.Write(header);
                foreach (var p in parts)
                {
                    using var part = File.OpenRead(p);
                    part.CopyTo(stream);
                }
            }, overwrite: false);
            foreach (var p in parts) File.Delete(p);
            _ids.Clear();
            Rows = SessionRows = FlowRows = 0;
            return true;
        }

        public void Dispose()
        {
            _sessions?.Dispose();
            _flows?.Dispose();
        }
    }

    /// <summary>
    /// Reads a batch: the header, then each segment's blocks into <paramref name="into"/> with the agent's
    /// symbol ids changed into <paramref name="symbols"/>' (names interned in one durable write). The
    /// segments are written to <paramref name="scratch"/> to be read (and deleted after).
    /// </summary>
    public static Header Read(ReadOnlySpan<byte> body, string scratch, ISymbolInterner symbols, Action<FlowBatch, bool> blocks)
    {
        var header = ReadHeader(body, out var at);
        var ids = header.Names.Keys.ToArray();
        var local = ids.Length == 0 ? [] : symbols.Intern(ids.Select(id => header.Names[id]).ToList());
        var map = new Dictionary<uint, uint>(ids.Length);
        for (var k = 0; k < ids.Length; k++) map[ids[k]] = local[k];
        var into = new FlowBatch(8192);
        foreach (var (length, sessions) in new[] { (header.Sessions, true), (header.Flows, false) })
        {
            if (length == 0) continue;
            var path = Path.Combine(scratch, $"incoming-{Environment.CurrentManagedThreadId}-{(sessions ? "sessions" : "flows")}.seg");
            File.WriteAllBytes(path, body.Slice(at, (int)length).ToArray());
            at += (int)length;
            try
            {
                using var reader = new SegmentFile.Reader(path);
                for (var b = 0; b < reader.Blocks.Length; b++)
                {
                    into.Clear();
                    reader.ReadBlock(b, into);
                    Remap(into, map);
                    CheckTimes(into, sessions);
                    blocks(into, sessions);
                }
            }
            catch (SegmentCorruptException e)
            {
                throw new FormatException($"the batch's {(sessions ? "sessions" : "flows")} are damaged: {e.Message}");
            }
            finally
            {
                File.Delete(path);
            }
        }
        return header;
    }

    public static Header ReadHeader(ReadOnlySpan<byte> body, out int at)
    {
        if (!IsBatch(body) || body.Length < 12) throw new FormatException("not an agent batch (no FLBATCH1 header)");
        var length = BinaryPrimitives.ReadUInt32LittleEndian(body[8..]);
        if (length > MaxHeaderBytes || 12 + length > body.Length) throw new FormatException("the batch's header is cut short or too long");
        using var doc = JsonDocument.Parse(body.Slice(12, (int)length).ToArray());
        var root = doc.RootElement;
        string Text(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new FormatException($"the batch's header has no {name}");
        long Number(string name) => root.TryGetProperty(name, out var v) && v.TryGetInt64(out var n) && n >= 0 ? n : throw new FormatException($"the batch's header has no {name}");
        var names = new Dictionary<uint, string>();
        if (root.TryGetProperty("names", out var ns) && ns.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in ns.EnumerateObject())
            {
                if (!uint.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) || id == 0
                    || p.Value.ValueKind != JsonValueKind.String || p.Value.GetString() is not { Length: > 0 } name)
                {
                    throw new FormatException($"the batch's header names '{p.Name}' wrongly");
                }
                names[id] = name;
            }
        }
        var header = new Header(Text("agent"), Number("sequence"), Number("time"), names, Number("sessions"), Number("flows"));
        at = 12 + (int)length;
        if (header.Sessions + header.Flows != body.Length - at) throw new FormatException($"the batch holds {body.Length - at} bytes of rows where its header says {header.Sessions + header.Flows}");
        return header;
    }

    /// <summary>Refuses rows whose times lie beyond the calendar (<see cref="FlowTime"/>): nothing could print or partition them.</summary>
    private static void CheckTimes(FlowBatch rows, bool sessions)
    {
        foreach (var column in new[] { rows.TimeReceived, rows.Start, rows.End, rows.SetupTime, rows.TeardownTime })
        {
            if (column.Length == 0) continue;
            foreach (var t in column.AsSpan(0, Math.Min(rows.Count, column.Length)))
            {
                if (t is < FlowTime.MinMicros or > FlowTime.MaxMicros)
                {
                    throw new FormatException($"the batch's {(sessions ? "sessions" : "flows")} hold a time of {t} µs, beyond the years 1 to 9999");
                }
            }
        }
    }

    private static void Remap(FlowBatch rows, Dictionary<uint, uint> map)
    {
        foreach (var field in FlowBatch.Fields)
        {
            if (!FlowFields.IsSymbol(field) || rows.IsZeroColumn(field)) continue;
            var column = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(rows.ColumnBytes(field, rows.Count));
            for (var i = 0; i < column.Length; i++)
            {
                if (column[i] == 0) continue;
                column[i] = map.TryGetValue(column[i], out var id) ? id : throw new FormatException($"the batch uses symbol {column[i]} in {FlowFields.Name(field)} without naming it");
            }
        }
    }
}
