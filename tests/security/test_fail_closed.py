"""Fail closed: no default secrets, strict bearer tokens, an identity provider that is down
is a 503 (never a 401, never a blocked event loop), alert webhooks are always signed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hotline_cli.processes import ROOT
from hotline_shared.auth import AUDIENCE, TokenVerifier, mint_token
from hotline_shared.centers import CentersFileError, load_centers
from hotline_shared.problems import Problem
from hotline_shared.settings import DEV_CENTERS_FILE, SecuritySettings
from pydantic import ValidationError

SECRET = "s" * 32
MASTER = "ZGV2LW9ubHktbWFzdGVyLWtleS0zMi1ieXRlcy0hISE="


def settings(**values: Any) -> SecuritySettings:
    base = {"jwt_secret": SECRET, "master_key": MASTER, "centers_file": DEV_CENTERS_FILE}
    return SecuritySettings(**{**base, **values})


# ---- no default secrets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"jwt_secret": None}, "HOTLINE_JWT_SECRET"),
        ({"jwt_secret": "short-but-not-32-bytes"}, "at least 32 bytes"),
        ({"jwt_secret": None, "jwks_url": "https://idp.example/jwks"}, "HOTLINE_JWT_ISSUER"),
        ({"master_key": "bm90IDMyIGJ5dGVz"}, "32 bytes"),
        ({"master_key": "%%% not base64"}, "32 bytes"),
    ],
)
def test_settings_refuse_missing_or_weak_secrets(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**change)


def test_nothing_has_a_working_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOTLINE_JWT_SECRET", "HOTLINE_MASTER_KEY", "HOTLINE_CENTERS_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError) as caught:
        SecuritySettings()
    missing = {e["loc"][0] for e in caught.value.errors() if e["type"] == "missing"}
    assert missing == {"master_key", "centers_file"}


def run_service(service: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    import os

    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    environment.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run([sys.executable, "-m", f"hotline_{service}"], env=environment,
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)  # fmt: skip


@pytest.mark.parametrize("service", ["intake", "sessions", "followup"])
def test_a_service_without_secrets_refuses_to_start_with_one_clear_line(service: str) -> None:
    done = run_service(service)
    assert done.returncode == 2
    assert f"hotline-{service}: refusing to start" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_short_jwt_secret_is_refused_and_never_printed() -> None:
    weak = "weak-secret-value-1234"
    done = run_service("intake", HOTLINE_JWT_SECRET=weak, HOTLINE_MASTER_KEY=MASTER,
                       HOTLINE_CENTERS_FILE=str(DEV_CENTERS_FILE))  # fmt: skip
    assert done.returncode == 2 and "at least 32 bytes" in done.stderr
    assert weak not in done.stderr + done.stdout


def test_the_development_secrets_live_only_in_deploy_local() -> None:
    dev_secret = "dev-only-jwt-secret-change-me"
    holders = []
    for path in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/**/*.py"),
                 ROOT / "docker-compose.yml"]:  # fmt: skip
        if dev_secret in path.read_text() or MASTER in path.read_text():
            holders.append(str(path.relative_to(ROOT)))
    assert holders == []
    assert dev_secret in (ROOT / "deploy" / "local" / "dev.env").read_text()


def test_an_alert_webhook_without_a_secret_refuses_the_center(tmp_path: Path) -> None:
    import yaml

    centers = yaml.safe_load(DEV_CENTERS_FILE.read_text())
    centers[0]["alert_webhook_url"] = "https://supervisors.example/alerts"
    path = tmp_path / "centers.yaml"
    path.write_text(yaml.safe_dump(centers))
    with pytest.raises(CentersFileError, match="alert_webhook"):
        load_centers(path)
    centers[0]["alert_webhook_secret"] = "a-long-enough-alert-secret"
    path.write_text(yaml.safe_dump(centers))
    assert load_centers(path).get(centers[0]["id"]) is not None


# ---- strict tokens ---------------------------------------------------------------------------


def token(
    claims: dict[str, Any], key: Any = SECRET, algorithm: str = "HS256", **headers: Any
) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers or None)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "u1", "role": "counselor", "centers": ["center-01"], "aud": AUDIENCE,
            "iat": now, "exp": now + 600}  # fmt: skip
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


async def test_a_well_formed_token_is_accepted() -> None:
    principal = await TokenVerifier(settings()).verify(token(claims()))
    assert principal.sub == "u1" and principal.centers == ("center-01",)
    minted = mint_token(SECRET, sub="u2", role="supervisor", centers=["center-01"])
    assert (await TokenVerifier(settings()).verify(minted)).sub == "u2"


@pytest.mark.parametrize(
    "bad",
    [
        claims(exp=None),
        claims(iat=None),
        claims(aud=None),
        claims(aud="another-api"),
        claims(exp=int(time.time()) - 61),  # past the leeway
        claims(iat=int(time.time()) + 3600),  # issued in the future
        claims(iss="https://other-idp.example"),  # wrong issuer (see the issuer test)
    ],
    ids=["no-exp", "no-iat", "no-aud", "wrong-aud", "expired", "future-iat", "iss"],
)
async def test_tokens_missing_a_required_claim_or_out_of_time_are_refused(
    bad: dict[str, Any],
) -> None:
    verifier = TokenVerifier(settings(jwt_issuer="https://idp.example", jwt_leeway_seconds=60))
    if "iss" not in bad:
        bad = {**bad, "iss": "https://idp.example"}
    with pytest.raises(Problem) as caught:
        await verifier.verify(token(bad))
    assert caught.value.status == 401


async def test_leeway_is_at_most_a_minute() -> None:
    with pytest.raises(ValidationError):
        settings(jwt_leeway_seconds=61)
    verifier = TokenVerifier(settings(jwt_leeway_seconds=60))
    assert await verifier.verify(token(claims(exp=int(time.time()) - 30)))


async def test_a_token_signed_with_another_key_or_algorithm_is_refused() -> None:
    verifier = TokenVerifier(settings())
    for bad in (token(claims(), key="x" * 32), token(claims(), key="", algorithm="none")):
        with pytest.raises(Problem) as caught:
            await verifier.verify(bad)
        assert caught.value.status == 401


# ---- JWKS: fetched asynchronously, cached, refreshed on rotation; a down IdP is a 503 -----


class IdentityProvider:
    """A JWKS endpoint on loopback whose keys can rotate and which can go down."""

    def __init__(self) -> None:
        self.keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048)]
        self.kids = ["k1"]
        self.fetches = 0
        self.down = False
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                idp.fetches += 1
                if idp.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps({"keys": [
                    {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())), "kid": kid,
                     "use": "sig", "alg": "RS256"} for k, kid in zip(idp.keys, idp.kids, strict=True)
                ]}).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rotate(self) -> None:
        self.keys.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.kids.append(f"k{len(self.kids) + 1}")

    def sign(self, index: int = -1, **changes: Any) -> str:
        return token(claims(iss="https://idp.example", **changes), key=self.keys[index],
                     algorithm="RS256", kid=self.kids[index])  # fmt: skip


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    yield provider
    provider.server.shutdown()


def jwks_settings(idp: IdentityProvider) -> SecuritySettings:
    return settings(jwt_secret=None, jwks_url=idp.url, jwt_issuer="https://idp.example")


async def test_jwks_keys_are_cached_and_fetched_again_for_a_rotated_key(
    idp: IdentityProvider,
) -> None:
    verifier = TokenVerifier(jwks_settings(idp))
    for _ in range(3):
        assert (await verifier.verify(idp.sign())).sub == "u1"
    assert idp.fetches == 1
    idp.rotate()
    verifier_jwks = verifier._jwks
    assert verifier_jwks is not None
    verifier_jwks.min_refresh = 0  # (production: at most every 10 s)
    assert (await verifier.verify(idp.sign())).sub == "u1"  # a new kid: fetched again
    assert idp.fetches == 2
    with pytest.raises(Problem) as caught:  # an HS256 token against an RS256 provider
        await verifier.verify(token(claims(iss="https://idp.example"), kid="k1"))
    assert caught.value.status == 401


async def test_an_unreachable_identity_provider_is_503_and_does_not_block_the_loop(
    idp: IdentityProvider,
) -> None:
    idp.down = True
    verifier = TokenVerifier(jwks_settings(idp))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    running = asyncio.create_task(ticker())
    try:
        for _ in range(2):  # and again, within the refresh interval
            with pytest.raises(Problem) as caught:
                await verifier.verify(idp.sign())
            assert caught.value.status == 503
    finally:
        running.cancel()
    assert ticks > 0  # the loop ran while the fetch was in flight
    idp.down = False
    jwks = verifier._jwks
    assert jwks is not None
    jwks.min_refresh = 0
    assert (await verifier.verify(idp.sign())).sub == "u1"  # back: accepted


async def test_concurrent_requests_share_one_jwks_fetch(idp: IdentityProvider) -> None:
    verifier = TokenVerifier(jwks_settings(idp))
    signed = idp.sign()
    results = await asyncio.gather(*(verifier.verify(signed) for _ in range(20)))
    assert {p.sub for p in results} == {"u1"} and idp.fetches == 1
