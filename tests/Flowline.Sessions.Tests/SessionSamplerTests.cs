namespace Flowline.Sessions.Tests;

public sealed class SessionSamplerTests
{
    /// <summary>Pareto-distributed session sizes (alpha 1.2, at least 200 bytes): most small, a few huge.</summary>
    private static ulong[] HeavyTailed(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (ulong)Math.Min(2e10, 200 / Math.Pow(1 - random.NextDouble(), 1 / 1.2)))];
    }

    /// <summary>
    /// 100,000 sessions arriving at 5,000 a second for 20 s, a target of 1,000 exports a second: returns the
    /// upscaled total, the true total, and the exports per second of each interval.
    /// </summary>
    private static (double Upscaled, double Truth, List<double> Rates) Run(int seed, bool upscale)
    {
        var sessions = HeavyTailed(100_000, seed);
        var sampler = new SessionSampler(1000, random: new Random(seed + 100));
        double upscaled = 0, truth = 0;
        var rates = new List<double>();
        for (var i = 0; i < sessions.Length; i++)
        {
            truth += sessions[i];
            var d = sampler.Decide(sessions[i]);
            if (d.Export) upscaled += sessions[i] * (upscale ? d.Scale : 1);
            if ((i + 1) % 5000 == 0)
            {
                rates.Add(sampler.Interval.Exported);
                sampler.EndInterval(1);
            }
        }
        return (upscaled, truth, rates);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Upscaled_sampled_totals_are_within_2_percent_while_the_export_rate_keeps_to_its_target(int seed)
    {
        var (upscaled, truth, rates) = Run(seed, upscale: true);
        Assert.InRange(upscaled / truth, 0.98, 1.02);
        // After the first interval (whose threshold is the initial guess), every second keeps to the target.
        Assert.All(rates.Skip(1), r => Assert.True(r <= 1000, $"{r} exports in a second: {string.Join(' ', rates)}"));
        Assert.True(rates.Skip(1).Average() >= 500, $"the threshold overshot: {string.Join(' ', rates)}");
    }

    [Fact]
    public void Starting_from_every_session_a_flood_is_met_in_one_interval_and_a_lull_gets_every_session_again()
    {
        var sampler = new SessionSampler(1000, initialThreshold: 1, new Random(9));
        var rates = new List<long>();
        void Second(int sessions, int seed)
        {
            foreach (var size in HeavyTailed(sessions, seed)) sampler.Decide(size);
            rates.Add(sampler.Interval.Exported);
            sampler.EndInterval(1);
        }
        Second(200, 1); // under the target: every session
        Assert.Equal(200, rates[^1]);
        Assert.Equal(1, sampler.Threshold);
        for (var k = 0; k < 5; k++) Second(200_000, 10 + k); // a flood two hundred times the target
        Assert.Equal(200_000, rates[1]); // the first second of the flood, at the old threshold
        Assert.All(rates.Skip(2), r => Assert.InRange(r, 700, 1000));
        Second(300, 2); // the flood is over: the threshold falls back at once
        Second(300, 3);
        Assert.Equal(300, rates[^1]);
    }

    [Fact]
    public void Without_upscaling_the_total_is_far_off()
    {
        var (upscaled, truth, _) = Run(1, upscale: false);
        Assert.True(upscaled / truth < 0.98, $"{upscaled / truth}");
    }

    [Fact]
    public void Sessions_at_or_above_the_threshold_go_as_they_are_and_smaller_ones_carry_their_probability()
    {
        var sampler = new SessionSampler(100, initialThreshold: 1000, new Random(5));
        Assert.Equal(new SampleDecision(true, 1, 1), sampler.Decide(1000));
        Assert.Equal(new SampleDecision(true, 1, 1), sampler.Decide(5000));
        Assert.False(sampler.Decide(0).Export);
        var kept = Enumerable.Range(0, 10_000).Select(_ => sampler.Decide(250)).Where(d => d.Export).ToList();
        Assert.All(kept, d => Assert.Equal((4.0, 0.25), (d.Scale, d.Probability)));
        Assert.InRange(kept.Count, 2300, 2700); // p = 0.25 of 10,000
        // The integer division of seed 001's implementation would have made every one of these 0.
        Assert.Equal(0, 250 / 1000);
    }

    [Fact]
    public void A_target_of_zero_exports_everything_and_bad_settings_are_refused()
    {
        var all = new SessionSampler(0);
        Assert.All(Enumerable.Range(1, 100), i => Assert.Equal(new SampleDecision(true, 1, 1), all.Decide((ulong)i)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SessionSampler(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SessionSampler(10, 0));
    }
}
