"""Monitoring as code: alert rules, scraping, routing and dashboards per stack."""
from __future__ import annotations

from typing import Any

from ..settings import StackSettings
from ..stages import StageState


def build_monitoring(settings: StackSettings, state: StageState) -> list[dict[str, Any]]:
    """PodMonitors, PrometheusRule, AlertmanagerConfig and dashboard ConfigMaps for a stack."""
    return []
