"""A PlatformKeyStore written in Python (with `cryptography`, as an app writes one over Keychain or
Android Keystore) used by the Authenticator for registration, answers and polls."""

import contextlib
import io
import json
import unittest

from support import HAVE_CRYPTOGRAPHY, NOW, TempDirTestCase, challenge, link, mc, register, run

if HAVE_CRYPTOGRAPHY:
    from support import CryptographyKeyStore


@unittest.skipUnless(HAVE_CRYPTOGRAPHY, "needs the cryptography package")
class ForeignKeyStore(TempDirTestCase, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.keys = CryptographyKeyStore()
        self.auth = mc.Authenticator(self.keys, self.accounts_path, False)
        self.server = mc.TestServerSigner()

    def test_full_flow_with_the_python_key_store(self):
        account, req = register(self.auth, self.server, "dev-py")
        self.assertIn(req.key_alias, self.keys.keys)
        self.assertEqual(self.keys.calls[:2], [("generate_key", req.key_alias), ("sign", req.key_alias)])
        c = challenge(device_id="dev-py")
        shown = self.auth.verify_challenge(account.id, self.server.sign_challenge(c), NOW)
        answer = run(self.auth.answer_challenge(account.id, shown, mc.Decision.APPROVE, 12, NOW))
        self.assertEqual(self.server.verify_answer(req.device_public_key, c, answer.body).number, 12)
        poll = run(self.auth.poll_request(account.id, NOW))
        self.server.verify_poll(req.device_public_key, poll, NOW)
        self.assertEqual(run(self.auth.offline_code(account.id, NOW)).code, self.server.offline_code_at(NOW))
        self.assertEqual(list(self.keys.secrets), [req.key_alias + ".totp"])
        run(self.auth.remove_account(account.id))
        self.assertEqual(self.keys.keys, {})
        self.assertEqual(self.keys.secrets, {})
        self.assertEqual(self.keys.calls[-1], ("delete_key", req.key_alias))

    def test_cancelled_registration_deletes_the_key(self):
        info = self.auth.parse_registration(link(), NOW)
        req = run(self.auth.build_registration_request(info, "x", None, mc.Platform.OTHER))
        self.assertIn(req.key_alias, self.keys.keys)
        run(self.auth.cancel_registration(info))
        self.assertEqual(self.keys.keys, {})

    def test_key_store_errors_reach_the_caller(self):
        class Refusing(CryptographyKeyStore):
            async def sign(self, alias, message):
                raise mc.AuthError.KeyStore("user cancelled the biometric prompt")

        auth = mc.Authenticator(Refusing(), self.accounts_path, False)
        info = auth.parse_registration(link(), NOW)
        with self.assertRaises(mc.AuthError.KeyStore) as cm:
            run(auth.build_registration_request(info, "x", None, mc.Platform.OTHER))
        self.assertIn("biometric", cm.exception.reason)

    def test_unexpected_exceptions_become_key_store_errors(self):
        class Broken(CryptographyKeyStore):
            async def generate_key(self, alias):
                raise RuntimeError("keychain unavailable")

        auth = mc.Authenticator(Broken(), self.accounts_path, False)
        info = auth.parse_registration(link(), NOW)
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(mc.AuthError.KeyStore) as cm:
            run(auth.build_registration_request(info, "x", None, mc.Platform.OTHER))
        self.assertIn("keychain unavailable", cm.exception.reason)

    def test_a_key_store_returning_garbage_is_refused(self):
        class Compressed(CryptographyKeyStore):
            async def generate_key(self, alias):
                return b"\x02" + bytes(32)

        class RawSignatures(CryptographyKeyStore):
            async def sign(self, alias, message):
                return bytes(64)  # r || s instead of DER

        for store in [Compressed(), RawSignatures()]:
            auth = mc.Authenticator(store, self.accounts_path, False)
            info = auth.parse_registration(link(), NOW)
            with self.subTest(store=type(store).__name__), self.assertRaises(mc.AuthError.KeyStore):
                run(auth.build_registration_request(info, "x", None, mc.Platform.OTHER))
            self.assertEqual(store.keys, {}, "the unusable key is deleted")

    def test_signatures_are_converted_from_der(self):
        account, req = register(self.auth, self.server, "dev-py")
        c = challenge(device_id="dev-py")
        answer = run(self.auth.answer_challenge(account.id, c, mc.Decision.DENY, None, NOW))
        from support import from_b64url

        self.assertEqual(len(from_b64url(json.loads(answer.body)["signature"])), 64)


if __name__ == "__main__":
    unittest.main()
