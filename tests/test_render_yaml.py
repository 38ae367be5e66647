"""Rendered YAML is read in full by reviewers: no anchors or aliases, ever."""
from __future__ import annotations

import yaml

from conftest import REPO, SHIPPED_STACKS
from rollout.build.resources import build_manifests
from rollout.output.render import render_documents, to_yaml
from rollout.spec.stack import load_stack


def test_a_dict_shared_by_two_fields_is_written_out_at_both():
    labels = {"app": "backend", "track": "canary"}
    manifest = {"kind": "Deployment", "metadata": {"name": "x", "labels": labels},
                "spec": {"template": {"metadata": {"labels": labels}}}}
    text = to_yaml(manifest)
    assert "&" not in text and "*" not in text, text
    assert text.count("track: canary") == 2
    assert yaml.safe_load(text) == manifest


def test_no_shipped_resource_renders_an_anchor_or_alias():
    for stack in SHIPPED_STACKS:
        settings = load_stack(REPO / f"Pulumi.{stack}.yaml")
        for stage in settings.stage_names:
            for name, text in render_documents(build_manifests(settings, stage)).items():
                events = yaml.parse(text)
                assert not [e for e in events if isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None)], name
