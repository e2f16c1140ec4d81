using System.Runtime.CompilerServices;

namespace Flowline.Realtime.Tests;

/// <summary>The flow map against a dictionary: the same keys and values through growth, removals and wrap-around.</summary>
public sealed class FlowMapTests
{
    [Theory]
    [InlineData(17, 1)]
    [InlineData(85, 2)]
    [InlineData(3, 3)] // a narrow key space: long probe runs, many of them crossing the end of the table
    public void Agrees_with_a_dictionary_through_adds_removals_and_growth(int width, int seed)
    {
        var random = new Random(seed);
        var map = new FlowMap(width);
        var model = new Dictionary<string, long>();
        var key = new byte[width];
        // Keys drawn from a small space so that adds, finds and removals hit the same keys often.
        void Draw()
        {
            Array.Clear(key);
            var n = random.Next(20_000);
            BitConverter.TryWriteBytes(key.AsSpan(0, Math.Min(4, width)), n);
            if (width > 4) key[width - 1] = (byte)(n % 7);
        }
        for (var step = 0; step < 200_000; step++)
        {
            Draw();
            var name = Convert.ToHexString(key);
            switch (random.Next(3))
            {
                case 0:
                    map.Add(key).Last = step;
                    model[name] = step;
                    break;
                case 1:
                    Assert.Equal(model.Remove(name), map.Remove(key));
                    if (step % 1000 == 0) map.Shrink();
                    break;
                default:
                    ref var e = ref map.Find(key);
                    Assert.Equal(model.TryGetValue(name, out var last), !Unsafe.IsNullRef(ref e));
                    if (!Unsafe.IsNullRef(ref e)) Assert.Equal(last, e.Last);
                    break;
            }
        }
        Assert.Equal(model.Count, map.Count);
        var seen = new Dictionary<string, long>();
        for (var slot = 0; slot < map.Slots; slot++)
        {
            if (map.Occupied(slot)) seen.Add(Convert.ToHexString(map.KeyAt(slot)), map.EntryAt(slot).Last);
        }
        Assert.Equal(model.OrderBy(p => p.Key), seen.OrderBy(p => p.Key));
    }

    [Fact]
    public void Shrinks_once_most_flows_are_gone_and_keeps_the_rest()
    {
        var map = new FlowMap(8);
        for (var i = 0; i < 10_000; i++) map.Add(BitConverter.GetBytes((long)i)).Total = i;
        var grown = map.Slots;
        Assert.True(grown >= 10_000 * 4 / 3, $"{grown} slots");
        for (var i = 100; i < 10_000; i++) Assert.True(map.Remove(BitConverter.GetBytes((long)i)));
        map.Shrink();
        Assert.Equal(256, map.Slots);
        for (var i = 0; i < 100; i++) Assert.Equal(i, map.Find(BitConverter.GetBytes((long)i)).Total);
        Assert.True(Unsafe.IsNullRef(ref map.Find(BitConverter.GetBytes(100L))));
    }
}
