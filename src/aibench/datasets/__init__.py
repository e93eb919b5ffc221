"""Readers and writers of the real on-disk layouts of data sets, shared by benchmarks."""
