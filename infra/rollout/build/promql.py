"""PromQL built from a metric contract, following the series label convention.

Every scraped series has `namespace`, `job` (the contract's job), `track` and `pod`; HTTP
counters carry `code`; histograms `le`. Gates and dashboards use the same shapes.
"""
from __future__ import annotations

SERVICE_LABELS = ("namespace", "job")


def number(value: float) -> str:
    """A threshold as PromQL prints it: 0.05, 1, 10000."""
    return f"{value:.10g}"


def selector(metric: str, namespace: str, job: str, **matchers: str) -> str:
    """`metric{namespace="..", job="..", k="v"}`; a value starting with `=~` or `!=` keeps its operator."""
    parts = [f'namespace="{namespace}"', f'job="{job}"']
    for label, value in matchers.items():
        if value.startswith(("=~", "!=", "!~")):
            parts.append(f'{label}{value[:2]}"{value[2:]}"')
        else:
            parts.append(f'{label}="{value}"')
    return f"{metric}{{{', '.join(parts)}}}"


def by(labels: tuple[str, ...]) -> str:
    return ", ".join(labels)


def sum_rate(series: str, window: str, labels: tuple[str, ...] = SERVICE_LABELS) -> str:
    return f"sum by ({by(labels)}) (rate({series}[{window}]))"


def ratio(errors: str, total: str, window: str, labels: tuple[str, ...] = SERVICE_LABELS) -> str:
    """Errors over total; no error series at all reads as 0, not as missing."""
    total_rate = sum_rate(total, window, labels)
    return f"(({sum_rate(errors, window, labels)} or 0 * {total_rate}) / {total_rate})"


def quantile(q: float, histogram: str, namespace: str, job: str, window: str,
             labels: tuple[str, ...] = SERVICE_LABELS, **matchers: str) -> str:
    buckets = selector(f"{histogram}_bucket", namespace, job, **matchers)
    return f"histogram_quantile({number(q)}, sum by ({by(labels + ('le',))}) (rate({buckets}[{window}])))"
