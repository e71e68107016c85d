"""Challenge times: expired and not-yet-valid challenges are refused (30 s of clock skew allowed)."""

import unittest

from support import NOW, TempDirTestCase, challenge, mc, register, run

SKEW = 30


class Expired(TempDirTestCase, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.auth = mc.Authenticator(mc.new_software_key_store(), self.accounts_path, False)
        self.server = mc.TestServerSigner()
        register(self.auth, self.server, "dev-1")
        self.c = challenge(created=NOW, lifetime=60)
        self.signed = self.server.sign_challenge(self.c)

    def test_expired_challenge_rejected(self):
        self.auth.verify_challenge("dev-1", self.signed, NOW + 60 + SKEW - 1)
        with self.assertRaises(mc.AuthError.ChallengeExpired) as cm:
            self.auth.verify_challenge("dev-1", self.signed, NOW + 60 + SKEW)
        self.assertEqual(cm.exception.expires_unix, NOW + 60)
        self.assertEqual(cm.exception.now_unix, NOW + 60 + SKEW)

    def test_answer_after_expiry_rejected(self):
        shown = self.auth.verify_challenge("dev-1", self.signed, NOW)
        with self.assertRaises(mc.AuthError.ChallengeExpired):
            run(self.auth.answer_challenge("dev-1", shown, mc.Decision.APPROVE, 47, NOW + 3600))
        # A refused late answer does not use the challenge up (for a phone whose clock was wrong).
        run(self.auth.answer_challenge("dev-1", shown, mc.Decision.APPROVE, 47, NOW + 10))

    def test_challenge_from_the_future_rejected(self):
        with self.assertRaises(mc.AuthError.ChallengeNotYetValid) as cm:
            self.auth.verify_challenge("dev-1", self.signed, NOW - SKEW - 1)
        self.assertEqual(cm.exception.created_unix, NOW)
        self.auth.verify_challenge("dev-1", self.signed, NOW - SKEW)

    def test_overlong_lifetime_rejected(self):
        with self.assertRaises(mc.AuthError.InvalidChallenge) as cm:
            self.server.sign_challenge(challenge(lifetime=601))
        self.assertEqual(cm.exception.field, "expires")


if __name__ == "__main__":
    unittest.main()
