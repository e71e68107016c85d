"""The poll fallback: a signed GET request, and the verified list of pending challenges."""

import unittest

from support import HAVE_CRYPTOGRAPHY, NOW, TempDirTestCase, challenge, mc, poll_message, register, run, verify_es256


class Poll(TempDirTestCase, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.auth = mc.Authenticator(mc.new_software_key_store(), self.accounts_path, False)
        self.server = mc.TestServerSigner()
        _, req = register(self.auth, self.server, "dev-1")
        self.device_key = req.device_public_key

    def test_poll_request(self):
        req = run(self.auth.poll_request("dev-1", NOW))
        self.assertEqual((req.method, req.url), ("GET", "https://sso.example.com/api/authenticator/challenges"))
        headers = {h.name: h.value for h in req.headers}
        self.assertEqual(headers["X-Hideez-Device"], "dev-1")
        self.assertEqual(headers["X-Hideez-Timestamp"], str(NOW))
        self.assertEqual(headers["X-Hideez-Nonce"], req.nonce)
        self.assertEqual(headers["X-Hideez-Signature"], req.signature)
        self.server.verify_poll(self.device_key, req, NOW + 59)
        with self.assertRaises(mc.AuthError.InvalidField):
            self.server.verify_poll(self.device_key, req, NOW + 61)
        self.assertNotEqual(run(self.auth.poll_request("dev-1", NOW)).nonce, req.nonce)

    @unittest.skipUnless(HAVE_CRYPTOGRAPHY, "needs the cryptography package")
    def test_poll_signature_matches_the_documented_encoding(self):
        req = run(self.auth.poll_request("dev-1", NOW))
        self.assertTrue(verify_es256(self.device_key, poll_message("dev-1", NOW, req.nonce), req.signature))

    def test_poll_response(self):
        fresh = challenge(challenge_id="fresh")
        expired = challenge(challenge_id="old", created=NOW - 600)
        answered = challenge(challenge_id="done")
        run(self.auth.answer_challenge("dev-1", answered, mc.Decision.DENY, None, NOW))
        response = self.server.sign_poll_response([expired, fresh, answered])
        self.assertEqual(self.auth.verify_poll_response("dev-1", response, NOW), [fresh])
        with self.assertRaises(mc.AuthError.BadSignature):
            self.auth.verify_poll_response("dev-1", response.replace("Payroll", "Paypal!"), NOW)
        self.assertEqual(self.auth.verify_poll_response("dev-1", '{"challenges": []}', NOW), [])


if __name__ == "__main__":
    unittest.main()
