"""Offline codes (RFC 6238) through the bindings: the code the phone shows is the one the server
expects, moves on every 30 seconds, and survives a restart with the encrypted file key store."""

import os
import unittest

from support import NOW, TempDirTestCase, mc, register, run


class OfflineCode(TempDirTestCase, unittest.TestCase):
    def test_codes_match_the_server_and_roll_over(self):
        server = mc.TestServerSigner()
        auth = mc.Authenticator(mc.new_software_key_store(), self.accounts_path, False)
        account, _ = register(auth, server, "dev-otp")
        self.assertTrue(account.has_offline_codes)
        first = run(auth.offline_code(account.id, NOW))
        self.assertEqual(first.code, server.offline_code_at(NOW))
        self.assertRegex(first.code, r"^[0-9]{6}$")
        self.assertEqual(first.period_seconds, 30)
        self.assertTrue(NOW < first.valid_until_unix <= NOW + 30)
        nxt = run(auth.offline_code(account.id, first.valid_until_unix))
        self.assertEqual(nxt.code, server.offline_code_at(first.valid_until_unix))
        with self.assertRaises(mc.AuthError.UnknownAccount):
            run(auth.offline_code("nope", NOW))

    def test_file_key_store_keeps_keys_and_secrets_encrypted(self):
        path = os.path.join(self._tmp.name, "keys.bin")
        file_key = os.urandom(32)
        server = mc.TestServerSigner()
        auth = mc.Authenticator(mc.open_software_key_store(path, file_key), self.accounts_path, False)
        account, _ = register(auth, server, "dev-file")
        raw = open(path, "rb").read()
        self.assertNotIn(b"dev-file", raw)
        self.assertNotIn(account.key_alias.encode(), raw, "aliases are inside the ciphertext too")
        # A restart: a new store from the same file and key signs and makes the same codes.
        again = mc.Authenticator(mc.open_software_key_store(path, file_key), self.accounts_path, False)
        self.assertEqual(run(again.offline_code(account.id, NOW)).code, server.offline_code_at(NOW))
        with self.assertRaises(mc.AuthError.KeyStore):
            mc.open_software_key_store(path, os.urandom(32))
        with self.assertRaises(mc.AuthError.InvalidField) as cm:
            mc.open_software_key_store(path, b"short")
        self.assertEqual(cm.exception.field, "file_key")


if __name__ == "__main__":
    unittest.main()
