"""Analysis across benchmarks: run-to-run variation, clustering, subset selection, benchmarking cost."""
