"""Province-scale synthetic data (issue 8): the `flask demo generate` command, the inspection
report ledger it fills, and the case cloning shared with the benchmarks."""
