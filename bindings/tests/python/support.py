"""Shared setup of the Python tests of mobile-core.

The tests load the real library through the generated module `mobile_core`, which
bindings/run-python-tests.sh generates into target/bindings/test/python and puts on PYTHONPATH.
This file also holds an independent Python implementation of the documented canonical byte strings
(docs/phone-protocol.md), so the tests check the library against the document, not against itself.
"""

import asyncio
import base64
import os
import struct
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_DEFAULT_BINDINGS = os.path.join(_HERE, "..", "..", "..", "target", "bindings", "test", "python")
if os.path.isdir(_DEFAULT_BINDINGS) and _DEFAULT_BINDINGS not in sys.path:
    sys.path.append(_DEFAULT_BINDINGS)

import mobile_core as mc  # noqa: E402  (the generated binding)

try:  # Debian and the machine image ship it; only the foreign-key-store tests need it.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    HAVE_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAVE_CRYPTOGRAPHY = False

NOW = 1_700_000_000
SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"  # bytes 0..31


def eventually(probe, what, within=10.0, pause=0.05):
    """Asks `probe` until it returns something true, and returns that; fails after `within`
    seconds naming `what`. A deadline, not a fixed sleep: the test waits only as long as needed."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {within}s for {what}, in vain")
        time.sleep(pause)


def run(coro):
    """Runs one async call of the library (the generated async methods need an event loop)."""
    return asyncio.run(coro)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def link(server="https://sso.example.com", enrolment_id="enr1", secret=SECRET, exp=NOW + 600, v="1"):
    return f"hideez-auth://register?v={v}&server={server}&id={enrolment_id}&secret={secret}&exp={exp}"


class TempDirTestCase:
    """Mixin: a fresh folder for the accounts file of each test."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.accounts_path = os.path.join(self._tmp.name, "accounts.json")

    def tearDown(self):
        self._tmp.cleanup()


def register(auth, server, device_id="dev-1", account_name="alice@example.com", key_store_check=True):
    """Registers `auth` with the test server; returns (account, registration request)."""
    info = auth.parse_registration(link(), NOW)
    req = run(auth.build_registration_request(info, "Test phone", "push-token-1", mc.Platform.OTHER))
    if key_store_check:
        server.check_registration_request(req.body)
    account = run(auth.complete_registration(info, server.registration_response(device_id, account_name)))
    return account, req


def challenge(device_id="dev-1", challenge_id="ch-1", created=NOW, lifetime=60, **fields):
    values = dict(
        device_id=device_id,
        challenge_id=challenge_id,
        nonce="AAAAAAAAAAAAAAAAAAAAAA",
        purpose=mc.ChallengePurpose.SIGN_IN,
        employee="Alice",
        client_name="Payroll",
        ip="203.0.113.7",
        place="Berlin, DE",
        browser=mc.BrowserFamily.FIREFOX,
        os=mc.OsFamily.WINDOWS,
        created_unix=created,
        expires_unix=created + lifetime,
    )
    values.update(fields)
    return mc.Challenge(**values)


# --- The canonical byte strings, written from docs/phone-protocol.md -------------------------

def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack(">I", len(b)) + b


def _bytes(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def challenge_message(c) -> bytes:
    return (
        b"hideez-auth/challenge/v3\0"
        + _str(c.device_id)
        + _str(c.challenge_id)
        + _str(c.nonce)
        + _str({mc.ChallengePurpose.SIGN_IN: "sign_in", mc.ChallengePurpose.UNLOCK: "unlock"}[c.purpose])
        + _str(c.employee)
        + _str(c.client_name)
        + _str(c.ip)
        + _str(c.place)
        + _str(c.browser.name.lower())
        + _str(c.os.name.lower())
        + struct.pack(">Q", c.created_unix)
        + struct.pack(">Q", c.expires_unix)
    )


def answer_message(device_id, challenge_id, nonce, decision: str, number) -> bytes:
    return (
        b"hideez-auth/answer/v1\0"
        + _str(device_id)
        + _str(challenge_id)
        + _str(nonce)
        + _str(decision)
        + bytes([number or 0])
    )


def poll_message(device_id, timestamp, nonce) -> bytes:
    return b"hideez-auth/poll/v1\0" + _str(device_id) + struct.pack(">Q", timestamp) + _str(nonce)


def registration_proof_message(enrolment_id, device_public_key: bytes) -> bytes:
    return b"hideez-auth/register/v1\0" + _str(enrolment_id) + _bytes(device_public_key)


def verify_es256(public_key_sec1: bytes, message: bytes, signature_b64: str) -> bool:
    """Checks a wire signature (64 bytes r || s, base64url) with `cryptography`."""
    sig = from_b64url(signature_b64)
    if len(sig) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key_sec1)
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


if HAVE_CRYPTOGRAPHY:

    class CryptographyKeyStore(mc.PlatformKeyStore):
        """A foreign PlatformKeyStore written in Python, as an app writes one over Keychain/Keystore."""

        def __init__(self):
            self.keys = {}
            self.secrets = {}
            self.calls = []

        async def generate_key(self, alias):
            self.calls.append(("generate_key", alias))
            key = ec.generate_private_key(ec.SECP256R1())
            self.keys[alias] = key
            return key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )

        async def sign(self, alias, message):
            self.calls.append(("sign", alias))
            if alias not in self.keys:
                raise mc.AuthError.KeyStore(f"no key {alias}")
            await asyncio.sleep(0)  # a real one may wait for a biometric prompt
            return self.keys[alias].sign(message, ec.ECDSA(hashes.SHA256()))  # DER

        async def delete_key(self, alias):
            self.calls.append(("delete_key", alias))
            self.keys.pop(alias, None)

        async def save_secret(self, alias, secret):
            self.calls.append(("save_secret", alias))
            self.secrets[alias] = bytes(secret)

        async def load_secret(self, alias):
            self.calls.append(("load_secret", alias))
            if alias not in self.secrets:
                raise mc.AuthError.KeyStore(f"no secret {alias}")
            return self.secrets[alias]

        async def delete_secret(self, alias):
            self.calls.append(("delete_secret", alias))
            self.secrets.pop(alias, None)
