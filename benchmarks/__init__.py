"""Latency, throughput and accuracy benchmarks, reported as Markdown, JSON and PNG plots."""
