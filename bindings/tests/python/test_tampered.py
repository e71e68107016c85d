"""A challenge changed after the server signed it, signed by another key, or meant for another
device is never shown."""

import json
import unittest

from support import NOW, TempDirTestCase, challenge, mc, register

TAMPERS = {
    "challenge_id": "ch-2",
    "nonce": "BBBBBBBBBBBBBBBBBBBBBB",
    "employee": "Mallory",
    "client_name": "Bank",
    "ip": "198.51.100.1",
    "place": "Paris, FR",
    "browser": "chrome",
    "os": "linux",
    "created": NOW - 1,
    "expires": NOW + 61,
    "purpose": "unlock",
}


class Tampered(TempDirTestCase, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.auth = mc.Authenticator(mc.new_software_key_store(), self.accounts_path, False)
        self.server = mc.TestServerSigner()
        register(self.auth, self.server, "dev-1")
        self.signed = json.loads(self.server.sign_challenge(challenge()))

    def test_each_field_is_covered_by_the_signature(self):
        for field, value in TAMPERS.items():
            wire = dict(self.signed, **{field: value})
            with self.subTest(field=field), self.assertRaises(mc.AuthError.BadSignature):
                self.auth.verify_challenge("dev-1", json.dumps(wire), NOW)

    def test_signature_changed(self):
        sig = self.signed["signature"]
        flipped = ("B" if sig[0] == "A" else "A") + sig[1:]
        with self.assertRaises(mc.AuthError.BadSignature):
            self.auth.verify_challenge("dev-1", json.dumps(dict(self.signed, signature=flipped)), NOW)
        with self.assertRaises(mc.AuthError.InvalidChallenge) as cm:
            self.auth.verify_challenge("dev-1", json.dumps(dict(self.signed, signature="AAAA")), NOW)
        self.assertEqual(cm.exception.field, "signature")

    def test_signed_by_another_server(self):
        other = mc.TestServerSigner()
        with self.assertRaises(mc.AuthError.BadSignature):
            self.auth.verify_challenge("dev-1", other.sign_challenge(challenge()), NOW)

    def test_for_another_device(self):
        with self.assertRaises(mc.AuthError.InvalidChallenge) as cm:
            self.auth.verify_challenge("dev-1", self.server.sign_challenge(challenge(device_id="dev-2")), NOW)
        self.assertEqual(cm.exception.field, "device_id")

    def test_malformed_json_names_the_field(self):
        missing = {k: v for k, v in self.signed.items() if k != "nonce"}
        with self.assertRaises(mc.AuthError.InvalidChallenge) as cm:
            self.auth.verify_challenge("dev-1", json.dumps(missing), NOW)
        self.assertEqual(cm.exception.field, "nonce")
        with self.assertRaises(mc.AuthError.InvalidChallenge) as cm:
            self.auth.verify_challenge("dev-1", json.dumps(dict(self.signed, created="yesterday")), NOW)
        self.assertEqual(cm.exception.field, "created")
        with self.assertRaises(mc.AuthError.InvalidChallenge) as cm:
            self.auth.verify_challenge("dev-1", json.dumps(dict(self.signed, purpose="pay")), NOW)
        self.assertEqual(cm.exception.field, "purpose")

    def test_unknown_members_are_ignored(self):
        wire = dict(self.signed, future_field="whatever")
        self.assertEqual(self.auth.verify_challenge("dev-1", json.dumps(wire), NOW).challenge_id, "ch-1")


if __name__ == "__main__":
    unittest.main()
