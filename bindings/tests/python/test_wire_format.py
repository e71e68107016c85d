"""The documented wire format (docs/phone-protocol.md) checked from outside the library: the
canonical challenge bytes built in Python equal the library's, and the document's test vectors
verify with an independent ECDSA implementation."""

import unittest

from support import HAVE_CRYPTOGRAPHY, answer_message, challenge, challenge_message, from_b64url, mc, verify_es256

# From docs/phone-protocol.md (keys: scalars 0x0101…01 and 0x0202…02).
SERVER_PK = "BG_wO5SSQc4drdQ1GeaWDgqFtBppoFwygQOqK84VlMoWPE91OlW_AdxT9sCwx-7ni0DG_30lqW4igrmJzvccFEo"
CHALLENGE_SIG = "XPG5lTpAmLvh3WBVZxoj0LwpRMPiRSwqDCpq2diEYucbZ3PxomnvkspEosL9u6WJ6HsiPGaEwykkxNFb04DRiw"
DEVICE_PK = "BFUPRxAD89-Xw99QaseX9nIfsaH7e49vg9IkSYplyI4kE2CT1wEuUJpzcVy9CwCjzA_0tcAbP_oZarH7MnA2uOY"
ANSWER_SIG = "cHb-KJLl0Q2HMUlaLuXQ9IyWMB74jTrp-CoIUuzQra9FSbYmaNmwf9wggMsNKMv9cLNqE8KhjE2-Kwfc5vUPKg"
CHALLENGE_HEX = (
    "68696465657a2d617574682f6368616c6c656e67652f763300"
    "000000056465762d31" "0000000463682d31"
    "00000016" + "41" * 22 +
    "000000077369676e5f696e"
    "00000005416c696365" "00000007506179726f6c6c" "0000000b3230332e302e3131332e37"
    "0000000a4265726c696e2c204445" "0000000766697265666f78" "0000000777696e646f7773"
    "000000006553f100" "000000006553f13c"
)


class WireFormat(unittest.TestCase):
    def example(self):
        return challenge(device_id="dev-1", challenge_id="ch-1")

    def test_canonical_challenge_bytes(self):
        c = self.example()
        self.assertEqual(challenge_message(c).hex(), CHALLENGE_HEX)
        self.assertEqual(bytes(mc.canonical_challenge_message(c)).hex(), CHALLENGE_HEX)
        # Unicode is length-prefixed in UTF-8 bytes.
        u = challenge(employee="Zoë Ørsted", place="Zürich, CH")
        self.assertEqual(bytes(mc.canonical_challenge_message(u)), challenge_message(u))
        # The purpose is signed: an unlock is not a sign-in.
        unlock = challenge(purpose=mc.ChallengePurpose.UNLOCK)
        self.assertNotEqual(challenge_message(unlock), challenge_message(c))
        self.assertEqual(bytes(mc.canonical_challenge_message(unlock)), challenge_message(unlock))

    @unittest.skipUnless(HAVE_CRYPTOGRAPHY, "needs the cryptography package")
    def test_document_vectors_verify(self):
        c = self.example()
        self.assertTrue(verify_es256(from_b64url(SERVER_PK), challenge_message(c), CHALLENGE_SIG))
        msg = answer_message("dev-1", "ch-1", c.nonce, "approve", 47)
        self.assertTrue(verify_es256(from_b64url(DEVICE_PK), msg, ANSWER_SIG))
        self.assertFalse(verify_es256(from_b64url(DEVICE_PK), msg + b"x", ANSWER_SIG))

    @unittest.skipUnless(HAVE_CRYPTOGRAPHY, "needs the cryptography package")
    def test_test_server_signatures_verify_independently(self):
        import json

        server = mc.TestServerSigner()
        c = self.example()
        wire = json.loads(server.sign_challenge(c))
        self.assertTrue(verify_es256(server.public_key(), challenge_message(c), wire["signature"]))


if __name__ == "__main__":
    unittest.main()
