namespace Flowline.Mitigation.Ddos;

/// <summary>The quarter-second evaluation, the sketch pool and the table's rebuilds.</summary>
public sealed partial class DdosDetector
{
    private uint[] _sketchKeys;
    private float[] _sketchCounts;
    private readonly int[] _freeSketches;
    private int _freeCount;

    /// <summary>Rates from the counters since the last evaluation; crossings, continuations and ends to the service; idle classes and addresses out.</summary>
    private void Evaluate(long now)
    {
        var dt = _lastEvaluation == 0 ? EvaluateEvery / 1e6 : (now - _lastEvaluation) / 1e6;
        _lastEvaluation = now;
        if (dt <= 0) return;
        var alpha = 1 - Math.Exp(-dt / Math.Max(0.05, _service.Options.Smoothing.TotalSeconds));
        var decay = (float)(1 - alpha);
        var set = _service.Protected;
        var reresolve = !ReferenceEquals(set, _resolvedWith);
        _resolvedWith = set;
        List<(int Slot, AttackClass Class)>? crossed = null;
        Span<double> max = stackalloc double[Classes];
        for (var slot = 0; slot <= _mask; slot++)
        {
            ref var e = ref _entries[slot];
            if (e.State != 1) continue;
            // The inventory changed: an address may have another owner, or none (it keeps its old one until it goes quiet).
            if (reresolve && e.Seen != 1 << (int)AttackClass.IcmpUnreachable && set.Find(e.Key) is var owner and >= 0) e.Target = set[owner];
            for (var c = 0; c < Classes; c++)
            {
                var bit = (ushort)(1 << c);
                if ((e.Seen & bit) == 0) continue;
                var at = slot * Classes + c;
                ref var k = ref _counters[at];
                ref var r = ref _rates[at];
                r.Pps += (k.Packets / dt - r.Pps) * alpha;
                r.Bps += (k.Bytes * 8 / dt - r.Bps) * alpha;
                (k.Packets, k.Bytes) = (0, 0);
                if (r.Pps > max[c]) max[c] = r.Pps;
                var threshold = _service.Threshold((AttackClass)c, e.Target);
                var over = threshold.Exceeded(r.Pps, r.Bps);
                if (_attacks[at] is { } attack)
                {
                    if (_service.Continue(attack, r.Pps, r.Bps, over, now))
                    {
                        if (over && k.Sketch >= 0 && now - attack.Followed >= 1_000_000)
                        {
                            attack.Followed = now;
                            _service.Follow(attack, new AttackSighting((AttackClass)c, e.Key, e.Target, r.Pps, r.Bps, Top(k.Sketch, 0), Top(k.Sketch, 1), Top(k.Sketch, 2)), now);
                        }
                        if (k.Sketch >= 0) Decay(k.Sketch, decay);
                        continue;
                    }
                    _attacks[at] = null;
                }
                else if (over)
                {
                    (crossed ??= []).Add((slot, (AttackClass)c));
                    continue;
                }
                var ratio = threshold.Ratio(r.Pps, r.Bps);
                if (k.Sketch >= 0)
                {
                    Decay(k.Sketch, decay);
                    // Cold again (a twentieth of the threshold): the sketches go back to the pool.
                    if (ratio < 0.05) FreeSketch(ref k.Sketch);
                }
                k.WarmAt = ratio >= 0.1 && k.Sketch < 0 ? 0 : WarmAt((AttackClass)c, e.Target);
                if (r.Pps < 1 && r.Bps < 8)
                {
                    // Quiet: the class goes (a new row starts it afresh).
                    FreeSketch(ref k.Sketch);
                    e.Seen &= (ushort)~bit;
                }
            }
            // No class left and quiet for 10 s: the slot is free again.
            if (e.Seen == 0 && now - e.LastSeen > 10_000_000)
            {
                e.State = 2;
                e.Target = null;
                _used--;
                _dead++;
            }
        }
        lock (_maxPps) max.CopyTo(_maxPps);
        if (crossed is not null)
        {
            // Narrow classes first: a SYN flood is mitigated as such, and the TCP and IP floods it also is are covered by its rule.
            foreach (var (slot, c) in crossed.OrderBy(x => x.Class.Specificity()))
            {
                ref var e = ref _entries[slot];
                var at = slot * Classes + (int)c;
                var sketch = _counters[at].Sketch;
                var r = _rates[at];
                _attacks[at] = _service.Start(new AttackSighting(c, e.Key, e.Target, r.Pps, r.Bps, Top(sketch, 0), Top(sketch, 1), Top(sketch, 2)), now);
            }
        }
        if (_dead > _mask / 4) Rebuild(_entries.Length);
    }

    private int AllocateSketch()
    {
        if (_freeCount == 0) return -1;
        var s = _freeSketches[--_freeCount];
        Array.Clear(_sketchCounts, s * SketchSize, SketchSize);
        return s;
    }

    private void FreeSketch(ref int sketch)
    {
        if (sketch < 0) return;
        _freeSketches[_freeCount++] = sketch;
        sketch = -1;
    }

    private void Decay(int sketch, float decay)
    {
        for (var k = sketch * SketchSize; k < (sketch + 1) * SketchSize; k++) _sketchCounts[k] *= decay;
    }

    /// <summary>Space-saving sketch of <see cref="Slots"/> keys: a key present grows; an absent one takes the smallest slot.</summary>
    private void Sketch(int sketch, int which, uint key, float weight)
    {
        var at = (sketch * Sketches + which) * Slots;
        var min = at;
        for (var k = at; k < at + Slots; k++)
        {
            if (_sketchKeys[k] == key && _sketchCounts[k] > 0)
            {
                _sketchCounts[k] += weight;
                return;
            }
            if (_sketchCounts[k] < _sketchCounts[min]) min = k;
        }
        _sketchKeys[min] = key;
        _sketchCounts[min] += weight;
    }

    /// <summary>The sketch's keys with their share of the weight, largest first (empty without a sketch).</summary>
    private List<(uint Key, double Share)> Top(int sketch, int which)
    {
        var top = new List<(uint, double)>();
        if (sketch < 0) return top;
        var at = (sketch * Sketches + which) * Slots;
        double total = 0;
        for (var k = at; k < at + Slots; k++) total += _sketchCounts[k];
        if (total <= 0) return top;
        for (var k = at; k < at + Slots; k++)
        {
            if (_sketchCounts[k] > 0) top.Add((_sketchKeys[k], _sketchCounts[k] / total));
        }
        top.Sort((x, y) => y.Item2.CompareTo(x.Item2));
        return top;
    }

    /// <summary>Re-inserts the live addresses into a table of <paramref name="size"/> slots, dropping the tombstones.</summary>
    private void Rebuild(int size)
    {
        var (entries, counters, rates, attacks) = (_entries, _counters, _rates, _attacks);
        _entries = new Entry[size];
        _counters = new Counter[size * Classes];
        _rates = new Rate[size * Classes];
        _attacks = new Attack?[size * Classes];
        _mask = size - 1;
        _used = _dead = 0;
        for (var i = 0; i < entries.Length; i++)
        {
            if (entries[i].State != 1) continue;
            var j = Find(entries[i].Key);
            _entries[j] = entries[i];
            Array.Copy(counters, i * Classes, _counters, j * Classes, Classes);
            Array.Copy(rates, i * Classes, _rates, j * Classes, Classes);
            Array.Copy(attacks, i * Classes, _attacks, j * Classes, Classes);
        }
    }
}
