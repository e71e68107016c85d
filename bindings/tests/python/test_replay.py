"""A challenge can be answered once on the phone, also across restarts and concurrent answers."""

import asyncio
import json
import unittest

from support import NOW, TempDirTestCase, challenge, mc, register, run


class Replay(TempDirTestCase, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.keys = mc.new_software_key_store()
        self.auth = mc.Authenticator(self.keys, self.accounts_path, False)
        self.server = mc.TestServerSigner()
        _, self.registration = register(self.auth, self.server, "dev-1")

    def test_second_answer_rejected(self):
        c = challenge()
        signed = self.server.sign_challenge(c)
        shown = self.auth.verify_challenge("dev-1", signed, NOW)
        run(self.auth.answer_challenge("dev-1", shown, mc.Decision.APPROVE, 47, NOW))
        for decision, number in [(mc.Decision.APPROVE, 47), (mc.Decision.DENY, None)]:
            with self.assertRaises(mc.AuthError.AlreadyAnswered) as cm:
                run(self.auth.answer_challenge("dev-1", shown, decision, number, NOW))
            self.assertEqual(cm.exception.challenge_id, "ch-1")
        # The same push delivered again is not shown again.
        with self.assertRaises(mc.AuthError.AlreadyAnswered):
            self.auth.verify_challenge("dev-1", signed, NOW + 1)

    def test_replay_protection_survives_a_restart(self):
        c = challenge()
        run(self.auth.answer_challenge("dev-1", c, mc.Decision.DENY, None, NOW))
        restarted = mc.Authenticator(self.keys, self.accounts_path, False)
        with self.assertRaises(mc.AuthError.AlreadyAnswered):
            run(restarted.answer_challenge("dev-1", c, mc.Decision.APPROVE, 47, NOW))
        with self.assertRaises(mc.AuthError.AlreadyAnswered):
            restarted.verify_challenge("dev-1", self.server.sign_challenge(c), NOW)

    def test_concurrent_answers_only_one_wins(self):
        log = []

        class SlowKeyStore(mc.PlatformKeyStore):
            """Delegates to the Rust software store, but signing takes a while (a biometric
            prompt), so the second answer starts while the first is still being signed."""

            def __init__(self, inner):
                self.inner = inner

            async def generate_key(self, alias):
                return await self.inner.generate_key(alias)

            async def sign(self, alias, message):
                log.append("sign started")
                await asyncio.sleep(0.05)
                log.append("sign finished")
                return await self.inner.sign(alias, message)

            async def delete_key(self, alias):
                await self.inner.delete_key(alias)

            async def save_secret(self, alias, secret):
                await self.inner.save_secret(alias, secret)

            async def load_secret(self, alias):
                return await self.inner.load_secret(alias)

            async def delete_secret(self, alias):
                await self.inner.delete_secret(alias)

        auth = mc.Authenticator(SlowKeyStore(mc.new_software_key_store()), self.accounts_path + ".2", False)
        register(auth, self.server, "dev-1")
        log.clear()
        c = challenge()

        async def answer(decision, number):
            try:
                result = await auth.answer_challenge("dev-1", c, decision, number, NOW)
                log.append("answered")
                return result
            except mc.AuthError.AlreadyAnswered:
                log.append("refused")
                raise

        async def both():
            return await asyncio.gather(
                answer(mc.Decision.APPROVE, 47), answer(mc.Decision.DENY, None), return_exceptions=True
            )

        results = run(both())
        self.assertIsInstance(results[0], mc.SignedAnswer)
        self.assertIsInstance(results[1], mc.AuthError.AlreadyAnswered)
        # The second answer was refused while the first was being signed, not after it.
        self.assertEqual(log, ["sign started", "refused", "sign finished", "answered"])

    def test_other_challenges_still_answerable(self):
        """An answered challenge blocks only itself: another one is still answered, and signed
        for itself, while the first stays refused."""
        a, b = challenge(challenge_id="a"), challenge(challenge_id="b")
        first = run(self.auth.answer_challenge("dev-1", a, mc.Decision.DENY, None, NOW))
        second = run(self.auth.answer_challenge("dev-1", b, mc.Decision.APPROVE, 47, NOW))
        self.assertEqual((first.challenge_id, second.challenge_id), ("a", "b"))
        self.assertEqual(json.loads(second.body)["challenge_id"], "b")
        self.assertEqual(
            self.server.verify_answer(self.registration.device_public_key, b, second.body),
            mc.VerifiedAnswer(decision=mc.Decision.APPROVE, number=47),
        )
        with self.assertRaises(mc.AuthError.AlreadyAnswered):
            run(self.auth.answer_challenge("dev-1", a, mc.Decision.APPROVE, 47, NOW))


if __name__ == "__main__":
    unittest.main()
