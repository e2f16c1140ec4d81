using Flowline.Records;

namespace Flowline.Query;

/// <summary>Runs a query over a stream of batches (from a store or anything else): filter, then list or aggregate.</summary>
public static class QueryRunner
{
    /// <summary>Every matching record, in the order the batches give them, up to <paramref name="limit"/> (0 = all).</summary>
    public static IEnumerable<FlowRecord> Rows(IEnumerable<FlowBatch> batches, FilterNode filter, long limit = 0)
    {
        var evaluator = new FilterEvaluator(filter);
        var selection = Array.Empty<ulong>();
        long returned = 0;
        foreach (var batch in batches)
        {
            var words = FilterEvaluator.Words(batch.Count);
            if (selection.Length < words) selection = new ulong[words];
            evaluator.Evaluate(batch, selection);
            for (var w = 0; w < words; w++)
            {
                var bits = selection[w];
                while (bits != 0)
                {
                    var i = w * 64 + System.Numerics.BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                    yield return batch[i];
                    if (limit > 0 && ++returned >= limit) yield break;
                }
            }
        }
    }

    /// <summary>The aggregated answer of a grouping / top-N query.</summary>
    public static Aggregator.AggregateResult Aggregate(IEnumerable<FlowBatch> batches, FlowQuery query)
    {
        var evaluator = new FilterEvaluator(query.Filter);
        var aggregator = new Aggregator(query);
        var selection = Array.Empty<ulong>();
        foreach (var batch in batches)
        {
            var words = FilterEvaluator.Words(batch.Count);
            if (selection.Length < words) selection = new ulong[words];
            evaluator.Evaluate(batch, selection);
            aggregator.Add(batch, selection.AsSpan(0, words));
        }
        return aggregator.Result();
    }
}
