"""Metric gates against Prometheus, the watched soak and the audit ledger."""
