// Each target has the machine to itself for its share of FLOWLINE_FUZZ_SECONDS: the run takes that long, and
// the inputs a target tries do not depend on what else is running.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
