"""Other job runners measured with the same workloads, each in a virtual environment of its own."""
