"""Google application-default credentials as an HTTP bearer token, for Managed Prometheus's query API
and the Cloud SQL Admin API.

google.auth.default() finds `gcloud auth application-default login`'s credentials, a key named by
GOOGLE_APPLICATION_CREDENTIALS, or the metadata server on Google Cloud. google-auth is imported here
only, and only by the commands that ask Google something.
"""
from __future__ import annotations

import functools
import os
import threading
import types
import urllib.parse

from rollout.gates.prometheus import PrometheusUnavailable

MONITORING_READ = "https://www.googleapis.com/auth/monitoring.read"
SQL_ADMIN = "https://www.googleapis.com/auth/sqlservice.admin"  # Cloud SQL has no read-only scope; IAM narrows it
MANAGED_PROMETHEUS_HOST = "monitoring.googleapis.com"


class GoogleCredentialsUnavailable(PrometheusUnavailable):
    """No credentials, or no token for them: nothing Google says can be read, so there is no data (exit 5)."""


def managed_prometheus_url(project: str) -> str:
    """Managed Prometheus's Prometheus-compatible API for a project (location is always global)."""
    return f"https://{MANAGED_PROMETHEUS_HOST}/v1/projects/{project}/location/global/prometheus"


def is_managed_prometheus(url: str) -> bool:
    return urllib.parse.urlparse(url).hostname == MANAGED_PROMETHEUS_HOST


_LOCK = threading.Lock()


@functools.cache
def _credentials(scope: str, key_file: str | None):
    """Application-default credentials for one scope, found once per run (and per key file)."""
    google = _google_auth()
    try:
        credentials, _ = google.auth.default(scopes=[scope])
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise GoogleCredentialsUnavailable(
            f"no Google application-default credentials ({_first_line(exc)}): run `gcloud auth application-default "
            "login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key") from None
    return credentials


def google_headers(scope: str) -> dict[str, str]:
    """`Authorization: Bearer ...` (and the quota project the credentials name, if any), refreshed when the
    token has expired, so a watch that lasts hours keeps its access."""
    google = _google_auth()
    credentials = _credentials(scope, os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"))
    with _LOCK:  # queries run side by side: one refresh for all of them
        if not credentials.valid:
            try:
                credentials.refresh(google.auth.transport.urllib3.Request(google.urllib3.PoolManager()))
            except google.auth.exceptions.GoogleAuthError as exc:
                raise GoogleCredentialsUnavailable(f"Google refused a token for the application-default credentials: "
                                                   f"{_first_line(exc)}") from None
        headers = {"Authorization": f"Bearer {credentials.token}"}
    quota_project = getattr(credentials, "quota_project_id", None)
    if quota_project:
        headers["x-goog-user-project"] = quota_project
    return headers


@functools.cache
def _google_auth():
    """The google-auth modules, imported on first use (about 130 ms with the urllib3 transport)."""
    try:
        import google.auth
        import google.auth.exceptions
        import google.auth.transport.urllib3
        import urllib3
    except ImportError:
        raise GoogleCredentialsUnavailable("asking Google needs google-auth: pip install 'google-auth[urllib3]'") from None
    return types.SimpleNamespace(auth=google.auth, urllib3=urllib3)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
