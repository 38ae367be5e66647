"""Google's APIs, faked on 127.0.0.1: the OAuth token endpoint, Managed Prometheus's query API (answered
by a real Prometheus behind it) and the Cloud SQL Admin API's backupRuns.

Credentials are a service account key generated here whose `token_uri` points at the fake: google-auth
signs a JWT with the key and trades it for a bearer token, as it would with Google. Every API call
must carry that token, or it gets 401. Nothing listens anywhere but 127.0.0.1, and `stop()` ends it.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GMP_PREFIX = "/v1/projects/{project}/location/global/prometheus"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeGoogle:
    project: str
    prometheus: str | None = None  # the real Prometheus that answers the query API
    token: str = field(default_factory=lambda: f"ya29.fake-{secrets.token_hex(8)}")  # what the token endpoint issues
    accepts: str | None = None  # the token the APIs take (default: the one issued)
    backup_runs: Any = field(default_factory=lambda: {"kind": "sql#backupRunsList", "items": []})
    sqladmin_status: int = 200
    seen: list[Seen] = field(default_factory=list)
    jwt_claims: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> "FakeGoogle":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if self.path != "/token":
                    return self._json(404, {"error": "not found"})
                form = dict(urllib.parse.parse_qsl(body))
                if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                    return self._json(400, {"error": "unsupported_grant_type"})
                payload = form["assertion"].split(".")[1]
                fake.jwt_claims.append(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
                self._json(200, {"access_token": fake.token, "expires_in": 3600, "token_type": "Bearer"})

            def do_GET(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                fake.seen.append(Seen("GET", parsed.path, dict(urllib.parse.parse_qsl(parsed.query)), dict(self.headers)))
                if self.headers.get("Authorization") != f"Bearer {fake.accepts or fake.token}":
                    return self._json(401, {"error": {"code": 401, "message": "Request had invalid authentication credentials."}})
                prometheus = GMP_PREFIX.format(project=fake.project) + "/api/v1/query"
                if parsed.path == prometheus and fake.prometheus:
                    return self._forward(f"{fake.prometheus}/api/v1/query?{parsed.query}")
                if parsed.path.startswith(f"/v1/projects/{fake.project}/instances/") and parsed.path.endswith("/backupRuns"):
                    if fake.sqladmin_status != 200:
                        return self._json(fake.sqladmin_status, {"error": {"code": fake.sqladmin_status, "message": "denied"}})
                    return self._json(200, fake.backup_runs)
                self._json(404, {"error": f"no such path {parsed.path}"})

            def _forward(self, url: str) -> None:
                try:
                    with urllib.request.urlopen(url, timeout=10) as response:
                        status, body = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, exc.read()
                self._send(status, body)

            def _json(self, status: int, payload: Any) -> None:
                self._send(status, json.dumps(payload).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    @property
    def prometheus_url(self) -> str:
        return self.url + GMP_PREFIX.format(project=self.project)

    def api_calls(self) -> list[Seen]:
        return [s for s in self.seen if s.path != "/token"]

    def write_service_account_key(self, path: Path) -> Path:
        """A service account key file (a fresh RSA key) whose token endpoint is this fake."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        path.write_text(json.dumps({
            "type": "service_account", "project_id": self.project, "private_key_id": "k1", "private_key": pem,
            "client_email": f"rollout-gate@{self.project}.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": f"{self.url}/token",
        }))
        return path
