using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using Flowline.Records;

namespace Flowline.Storage.ClickHouse;

/// <summary>
/// ClickHouse's Native format as its HTTP interface speaks it (no block info): per block the column count
/// and row count as LEB128, then per column its name, its type and the values as a little-endian array.
/// Flow columns go both ways as one copy of the batch's column; an address is split into its two halves.
/// </summary>
public static class NativeFormat
{
    /// <summary>The most columns and rows a block from the server may announce: a larger count is a broken answer, not data.</summary>
    public const int MaxColumns = 512, MaxRows = 1 << 26;

    /// <summary>
    /// One block of rows [start, start + count) of <paramref name="batch"/>: the given columns (all the flow
    /// columns that are not known to be zero, usually), then the batch id of every row.
    /// </summary>
    public static void WriteBlock(ArrayBufferWriter<byte> output, FlowBatch batch, int start, int count, IReadOnlyList<ClickHouseSchema.Column> columns, ulong batchId)
    {
        WriteVarUInt(output, (ulong)columns.Count + 1);
        WriteVarUInt(output, (ulong)count);
        foreach (var c in columns)
        {
            WriteString(output, c.Name);
            WriteString(output, c.Type);
            var size = FlowBatch.ValueSize(c.Field);
            var values = batch.ColumnValues(c.Field, start + count)[(start * size)..];
            if (c.Half == 0)
            {
                values.CopyTo(output.GetSpan(values.Length));
                output.Advance(values.Length);
                continue;
            }
            var halves = MemoryMarshal.Cast<byte, ulong>(values);
            var into = MemoryMarshal.Cast<byte, ulong>(output.GetSpan(count * 8))[..count];
            for (var i = 0; i < count; i++) into[i] = halves[2 * i + c.Half - 1];
            output.Advance(count * 8);
        }
        WriteString(output, ClickHouseSchema.BatchColumn);
        WriteString(output, "UInt64");
        var ids = MemoryMarshal.Cast<byte, ulong>(output.GetSpan(count * 8))[..count];
        ids.Fill(batchId);
        output.Advance(count * 8);
    }

    private static void WriteVarUInt(ArrayBufferWriter<byte> output, ulong value)
    {
        var span = output.GetSpan(10);
        var n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[n++] = (byte)value;
        output.Advance(n);
    }

    private static void WriteString(ArrayBufferWriter<byte> output, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        WriteVarUInt(output, (ulong)bytes.Length);
        output.Write(bytes);
    }

    /// <summary>
    /// Reads Native blocks from a stream into a reused batch: flow columns by name (an address from its two
    /// halves); a column `flows` (UInt64) into <see cref="Flows"/>, for pre-aggregated rows. Columns of any
    /// other name or of an unexpected type fail the read: the statement and the reader disagree.
    /// </summary>
    public sealed class Reader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[1 << 16];
        private int _at, _end;
        private ulong[] _scratch = [];

        public const string FlowsColumn = "flows";

        public FlowBatch Batch { get; } = new(1024);

        /// <summary>Per row of the last block, the flows it stands for (when the answer has a `flows` column).</summary>
        public ulong[] Flows { get; private set; } = [];

        /// <summary>Reads the next block; false at the end of the answer.</summary>
        public bool Next()
        {
            if (!Fill(1)) return false;
            var columns = ReadVarUInt();
            var rows = ReadVarUInt();
            if (columns > MaxColumns || rows > MaxRows) throw Broken($"a block of {columns} columns and {rows} rows");
            var n = (int)rows;
            Batch.Clear();
            Batch.EnsureCapacity(n);
            for (var c = 0; c < (int)columns; c++)
            {
                var name = ReadString();
                var type = ReadString();
                if (name == FlowsColumn)
                {
                    Expect(type, "UInt64", name);
                    if (Flows.Length < n) Flows = new ulong[Math.Max(n, 1024)];
                    ReadInto(MemoryMarshal.AsBytes(Flows.AsSpan(0, n)));
                    continue;
                }
                if (!ClickHouseSchema.TryColumn(name, out var column)) throw Broken($"an unexpected column '{name}'");
                Expect(type, column.Type, name);
                var target = Batch.ColumnBytes(column.Field, n);
                if (column.Half == 0)
                {
                    ReadInto(target);
                    continue;
                }
                if (_scratch.Length < n) _scratch = new ulong[Math.Max(n, 1024)];
                ReadInto(MemoryMarshal.AsBytes(_scratch.AsSpan(0, n)));
                var halves = MemoryMarshal.Cast<byte, ulong>(target);
                for (var i = 0; i < n; i++) halves[2 * i + column.Half - 1] = _scratch[i];
            }
            Batch.SetCount(n);
            return true;
        }

        private void Expect(string type, string expected, string name)
        {
            if (type != expected) throw Broken($"column '{name}' of type {type}, expected {expected}");
        }

        private Exception Broken(string what)
        {
            // ClickHouse reports an error met after the answer began as text appended to the data.
            var rest = Encoding.UTF8.GetString(_buffer, _at, _end - _at);
            var code = rest.IndexOf("Code: ", StringComparison.Ordinal);
            return code >= 0
                ? new ClickHouseException(0, rest[code..].Trim(), "ClickHouse")
                : new ClickHouseException(0, $"answer not understood: {what}", "ClickHouse");
        }

        private bool Fill(int need)
        {
            while (_end - _at < need)
            {
                if (_at > 0)
                {
                    Buffer.BlockCopy(_buffer, _at, _buffer, 0, _end - _at);
                    _end -= _at;
                    _at = 0;
                }
                var read = stream.Read(_buffer, _end, _buffer.Length - _end);
                if (read == 0) return false;
                _end += read;
            }
            return true;
        }

        private ulong ReadVarUInt()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (!Fill(1)) throw Broken("the answer ends inside a number");
                var b = _buffer[_at++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return value;
            }
            throw Broken("a number longer than 64 bits");
        }

        private string ReadString()
        {
            var length = ReadVarUInt();
            if (length > 1024) throw Broken($"a name of {length} bytes");
            if (!Fill((int)length)) throw Broken("the answer ends inside a name");
            var s = Encoding.UTF8.GetString(_buffer, _at, (int)length);
            _at += (int)length;
            return s;
        }

        private void ReadInto(Span<byte> target)
        {
            var buffered = Math.Min(target.Length, _end - _at);
            _buffer.AsSpan(_at, buffered).CopyTo(target);
            _at += buffered;
            var rest = target[buffered..];
            while (rest.Length > 0)
            {
                var read = stream.Read(rest);
                if (read == 0) throw Broken("the answer ends inside a column");
                rest = rest[read..];
            }
        }
    }
}
