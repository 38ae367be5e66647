"""Names Kubernetes, Prometheus and Pulumi accept, with the hint shown when one is refused."""
from __future__ import annotations

import re

# Service, app and namespace names end up in DNS-1123 labels, Service names (RFC 1035: a letter
# first) and label values, all limited to 63 characters; derived names add up to 23 characters
# (`-off-env-<hash>`, dashboard uids), so services and apps are kept to 40.
DNS_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
DNS_LABEL_HINT = "lowercase letters, digits and '-', starting with a letter and not ending with '-'"
NAMESPACE = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
MAX_SERVICE = 40
MAX_NAMESPACE = 63
LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
LABEL_VALUE_HINT = "letters, digits, '-', '_' and '.', starting and ending with a letter or digit, at most 63"
LABEL_KEY = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
STAGE_NAME = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
STAGE_HINT = "lowercase letters, digits, '-' and '.'"
# Kubernetes accepts these as env var names (a C identifier, plus '-' and '.' since 1.8).
ENV_NAME = r"[-._a-zA-Z][-._a-zA-Z0-9]*"
ENV_HINT = "an environment variable name: letters, digits, '_', '-' and '.', not starting with a digit"
CONFIG_KEY = r"[A-Za-z][A-Za-z0-9_]*"
CONFIG_KEY_HINT = "the name of a Pulumi secret config key (without 'rollout:'), e.g. sessionSigningKey"
METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
PROM_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
ROLE_NAME = r"[a-z][A-Za-z0-9]*"
ROLE_HINT = "a camelCase role name like requests or sseConnections"
ALERT_NAME = r"[A-Z][A-Za-z0-9]*"
ALERT_HINT = "a CamelCase alert name like SessionCreationFailureRate"
IMAGE = r"[^\s@]+(@sha256:[0-9a-f]{64})?"
MAX_LABEL_VALUE = 63


def is_label_value(text: str) -> bool:
    return len(text) <= MAX_LABEL_VALUE and re.fullmatch(LABEL_VALUE, text) is not None
