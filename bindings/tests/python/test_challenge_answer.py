"""A sign-in challenge end to end: the test server signs it, the phone verifies and answers, the
server checks the answer; the answer's signature is also checked independently against the
documented canonical encoding."""

import json
import unittest

from support import (
    HAVE_CRYPTOGRAPHY,
    NOW,
    TempDirTestCase,
    answer_message,
    challenge,
    mc,
    register,
    run,
    verify_es256,
)


class ChallengeAnswer(TempDirTestCase, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.auth = mc.Authenticator(mc.new_software_key_store(), self.accounts_path, False)
        self.server = mc.TestServerSigner()
        _, req = register(self.auth, self.server, "dev-1")
        self.device_key = req.device_public_key

    def test_verify_shows_the_challenge(self):
        c = challenge()
        shown = self.auth.verify_challenge("dev-1", self.server.sign_challenge(c), NOW + 2)
        self.assertEqual(shown, c)
        self.assertEqual(shown.client_name, "Payroll")
        self.assertEqual(shown.place, "Berlin, DE")
        self.assertEqual(shown.purpose, mc.ChallengePurpose.SIGN_IN)
        self.assertFalse(hasattr(shown, "number_choices"), "the phone must not be told the number")

    def test_approve_with_the_right_number(self):
        c = challenge()
        shown = self.auth.verify_challenge("dev-1", self.server.sign_challenge(c), NOW + 2)
        answer = run(self.auth.answer_challenge("dev-1", shown, mc.Decision.APPROVE, 47, NOW + 3))
        self.assertEqual(answer.method, "POST")
        self.assertEqual(answer.url, "https://sso.example.com/api/authenticator/answer")
        self.assertEqual(answer.challenge_id, "ch-1")
        body = json.loads(answer.body)
        self.assertEqual(set(body), {"device_id", "challenge_id", "decision", "number", "signature"})
        self.assertEqual(body["decision"], "approve")
        self.assertEqual(body["number"], 47)
        checked = self.server.verify_answer(self.device_key, c, answer.body)
        self.assertEqual(checked, mc.VerifiedAnswer(decision=mc.Decision.APPROVE, number=47))

    def test_deny_and_report_fraud(self):
        for i, decision in enumerate([mc.Decision.DENY, mc.Decision.REPORT_FRAUD]):
            c = challenge(challenge_id=f"ch-{i}")
            shown = self.auth.verify_challenge("dev-1", self.server.sign_challenge(c), NOW)
            answer = run(self.auth.answer_challenge("dev-1", shown, decision, None, NOW))
            body = json.loads(answer.body)
            self.assertIsNone(body["number"])
            self.assertEqual(body["decision"], {mc.Decision.DENY: "deny", mc.Decision.REPORT_FRAUD: "report_fraud"}[decision])
            self.assertEqual(self.server.verify_answer(self.device_key, c, answer.body).decision, decision)

    def test_number_rules(self):
        c = challenge()
        with self.assertRaises(mc.AuthError.InvalidField) as cm:
            run(self.auth.answer_challenge("dev-1", c, mc.Decision.APPROVE, None, NOW))
        self.assertEqual(cm.exception.field, "number")
        for typed in (0, 9, 100, 4711):
            with self.subTest(typed=typed), self.assertRaises(mc.AuthError.InvalidField) as cm:
                run(self.auth.answer_challenge("dev-1", c, mc.Decision.APPROVE, typed, NOW))
            self.assertEqual(cm.exception.field, "number")
        # A wrong two-digit number is signed as typed; the server counts it as a denial.
        answer = run(self.auth.answer_challenge("dev-1", c, mc.Decision.APPROVE, 12, NOW))
        checked = self.server.verify_answer(self.device_key, c, answer.body)
        self.assertEqual(checked.number, 12)

    def test_answer_cannot_be_moved_to_another_challenge(self):
        c = challenge()
        answer = run(self.auth.answer_challenge("dev-1", c, mc.Decision.APPROVE, 47, NOW))
        other = challenge(nonce="BBBBBBBBBBBBBBBBBBBBBB")
        with self.assertRaises(mc.AuthError.BadSignature):
            self.server.verify_answer(self.device_key, other, answer.body)
        tampered = json.loads(answer.body)
        tampered["decision"] = "deny"
        with self.assertRaises(mc.AuthError.BadSignature):
            self.server.verify_answer(self.device_key, c, json.dumps(tampered))

    @unittest.skipUnless(HAVE_CRYPTOGRAPHY, "needs the cryptography package")
    def test_answer_signature_matches_the_documented_encoding(self):
        c = challenge()
        answer = run(self.auth.answer_challenge("dev-1", c, mc.Decision.APPROVE, 83, NOW))
        body = json.loads(answer.body)
        message = answer_message("dev-1", "ch-1", c.nonce, "approve", 83)
        self.assertTrue(verify_es256(self.device_key, message, body["signature"]))
        self.assertFalse(verify_es256(self.device_key, answer_message("dev-1", "ch-1", c.nonce, "approve", 47), body["signature"]))

    def test_unknown_account(self):
        with self.assertRaises(mc.AuthError.UnknownAccount):
            self.auth.verify_challenge("nope", self.server.sign_challenge(challenge()), NOW)


if __name__ == "__main__":
    unittest.main()
