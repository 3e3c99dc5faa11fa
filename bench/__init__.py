"""Benchmarks: each `bench/bench_<topic>.py` compares our code with a peer."""
