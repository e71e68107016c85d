"""Registration with the Rust SoftwareKeyStore: the request body, the key proof, the stored account."""

import json
import unittest

from support import (
    NOW,
    SECRET,
    TempDirTestCase,
    from_b64url,
    link,
    mc,
    register,
    registration_proof_message,
    run,
)


class RegistrationRequest(TempDirTestCase, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.keys = mc.new_software_key_store()
        self.auth = mc.Authenticator(self.keys, self.accounts_path, False)
        self.server = mc.TestServerSigner()

    def test_request_body(self):
        info = self.auth.parse_registration(link(), NOW)
        req = run(self.auth.build_registration_request(info, "Pixel 9", "fcm-123", mc.Platform.ANDROID))
        self.assertEqual(req.method, "POST")
        self.assertEqual(req.url, "https://sso.example.com/api/authenticator/register")
        body = json.loads(req.body)
        self.assertEqual(
            set(body), {"id", "secret", "device_public_key", "key_proof", "device_name", "push_token", "platform"}
        )
        self.assertEqual(body["id"], "enr1")
        self.assertEqual(body["secret"], SECRET)
        self.assertEqual(body["device_name"], "Pixel 9")
        self.assertEqual(body["push_token"], "fcm-123")
        self.assertEqual(body["platform"], "android")
        public_key = from_b64url(body["device_public_key"])
        self.assertEqual(public_key, req.device_public_key)
        self.assertEqual(len(public_key), 65)
        self.assertEqual(public_key[0], 4)
        self.assertTrue(req.key_alias.startswith("hideez-auth-"))
        # The server-side check (key proof over the documented message) accepts it.
        self.assertEqual(self.server.check_registration_request(req.body), public_key)

    def test_push_token_is_optional(self):
        info = self.auth.parse_registration(link(), NOW)
        req = run(self.auth.build_registration_request(info, "iPhone", None, mc.Platform.IOS))
        body = json.loads(req.body)
        self.assertNotIn("push_token", body)
        self.assertEqual(body["platform"], "ios")

    def test_key_proof_binds_the_enrolment(self):
        info = self.auth.parse_registration(link(), NOW)
        req = run(self.auth.build_registration_request(info, "x", None, mc.Platform.OTHER))
        body = json.loads(req.body)
        body["id"] = "enr2"
        with self.assertRaises(mc.AuthError.BadSignature):
            self.server.check_registration_request(json.dumps(body))
        self.assertTrue(registration_proof_message("enr1", req.device_public_key).startswith(b"hideez-auth/register/v1\0"))

    def test_complete_and_list_and_remove(self):
        account, req = register(self.auth, self.server, "dev-1")
        self.assertEqual(account.id, "dev-1")
        self.assertEqual(account.server_host, "sso.example.com")
        self.assertEqual(account.account_name, "alice@example.com")
        self.assertEqual(account.key_alias, req.key_alias)
        self.assertEqual(self.auth.accounts(), [account])
        with open(self.accounts_path) as f:
            stored = f.read()
        self.assertNotIn(SECRET, stored)
        # A second Authenticator on the same file sees the account.
        again = mc.Authenticator(self.keys, self.accounts_path, False)
        self.assertEqual(again.accounts(), [account])
        run(again.remove_account("dev-1"))
        self.assertEqual(again.accounts(), [])
        with self.assertRaises(mc.AuthError.UnknownAccount):
            run(again.remove_account("dev-1"))

    def test_bad_server_responses(self):
        info = self.auth.parse_registration(link(), NOW)
        with self.assertRaises(mc.AuthError.RegistrationNotStarted):
            run(self.auth.complete_registration(info, self.server.registration_response("d", None)))
        run(self.auth.build_registration_request(info, "x", None, mc.Platform.OTHER))
        cases = {
            "json": "not json",
            "device_id": json.dumps({"server_public_key": "x"}),
            "server_public_key": json.dumps({"device_id": "d", "server_public_key": "AAAA"}),
        }
        for field, body in cases.items():
            with self.subTest(field=field), self.assertRaises(mc.AuthError.InvalidServerResponse) as cm:
                run(self.auth.complete_registration(info, body))
            self.assertEqual(cm.exception.field, field)
        self.assertEqual(self.auth.accounts(), [])

    def test_duplicate_device_id(self):
        register(self.auth, self.server, "dev-1")
        with self.assertRaises(mc.AuthError.AccountExists):
            register(self.auth, self.server, "dev-1")

    def test_invalid_device_name(self):
        info = self.auth.parse_registration(link(), NOW)
        with self.assertRaises(mc.AuthError.InvalidField) as cm:
            run(self.auth.build_registration_request(info, "", None, mc.Platform.OTHER))
        self.assertEqual(cm.exception.field, "device_name")


if __name__ == "__main__":
    unittest.main()
