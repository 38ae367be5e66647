"""An S3 bucket for the ledger tests: moto's in-process AWS, never the network."""
from __future__ import annotations

from typing import Iterator

import boto3
import pytest
from moto import mock_aws

BUCKET = "acme-pulumi-state"  # the bucket a self-managed Pulumi backend would already have


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """An S3 client with BUCKET created, for the length of one test."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield boto3.client("s3")
