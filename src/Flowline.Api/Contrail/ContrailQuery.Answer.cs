using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Flowline.Query;
using Flowline.Sessions;
using Flowline.Records;

namespace Flowline.Api;

/// <summary>How an answer is built as the rows stream by: the limits, the order, and the aggregates of a group.</summary>
public static partial class ContrailQuery
{
    /// <summary>Groups one aggregate query holds at most.</summary>
    public const int MaxGroups = 100_000;
    /// <summary>Rows a query answers at most (and the largest limit it takes).</summary>
    public const int MaxRows = 100_000;
    /// <summary>Values the COUNT_DISTINCTs of one query hold at most, across its groups.</summary>
    public const int MaxDistinct = 1_000_000;
    /// <summary>Entries of select_fields at most (a table has fewer than a hundred columns).</summary>
    public const int MaxSelect = 256;

    /// <summary>What one query's COUNT_DISTINCTs may still hold.</summary>
    private sealed class DistinctBudget
    {
        public int Left = MaxDistinct;
    }

    /// <summary>The order of sort_fields (each one selected), ascending or with sort 2 descending.</summary>
    private static Comparer<JsonObject> Sorting(JsonElement q, JsonElement sortFields, List<string> select, long bucket, bool hasT)
    {
        var keys = sortFields.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new QueryException($"sort_fields: {e.GetRawText()} is not a column name")).ToList();
        foreach (var k in keys)
        {
            var selected = select.Contains(k) || k == "T=" && bucket != 0 || k == "T" && hasT;
            if (!selected) throw new QueryException($"sort_fields: '{k}' is not in select_fields");
        }
        var descending = q.TryGetProperty("sort", out var sort) && sort.ValueKind == JsonValueKind.Number && sort.TryGetInt32(out var order) && order == 2;
        return Comparer<JsonObject>.Create((a, b) =>
        {
            foreach (var k in keys)
            {
                var c = Compare(Plain(a[k]), Plain(b[k]));
                if (c != 0) return descending ? -c : c;
            }
            return 0;
        });
    }

    /// <summary>An aggregate of a group, added to row by row.</summary>
    private abstract class Accumulator
    {
        /// <summary>For a plain column: takes nothing, shared.</summary>
        public static readonly Accumulator Nothing = new None();
        public abstract void Add(FlowRecord r);
        public abstract object? Value { get; }
    }

    private sealed class Count : Accumulator
    {
        private long _n;
        public override void Add(FlowRecord r) => _n++;
        public override object? Value => _n;
    }

    private sealed class Sum(Column column, ISymbolNames names) : Accumulator
    {
        private long _sum;
        public override void Add(FlowRecord r) => _sum += (long)column.Get(r, names)!;
        public override object? Value => _sum;
    }

    private sealed class Distinct(Column column, ISymbolNames names, DistinctBudget budget) : Accumulator
    {
        private readonly HashSet<object?> _seen = [];
        public override void Add(FlowRecord r)
        {
            if (_seen.Add(column.Get(r, names)) && --budget.Left < 0)
                throw new QueryException($"the COUNT_DISTINCTs hold more than {MaxDistinct} values: narrow the time range or the where clause");
        }
        public override object? Value => (long)_seen.Count;
    }

    private sealed class None : Accumulator
    {
        public override void Add(FlowRecord r)
        {
        }

        public override object? Value => null;
    }
}
