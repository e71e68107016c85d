"""Two processes on one accounts file, as an app and its notification extension: both register
accounts and answer challenges at the same time, and nothing is lost (each change is made to
what is on disk, under the file's lock)."""

import json
import os
import subprocess
import sys
import unittest

from support import TempDirTestCase

ROUNDS = 12

# Each process registers ROUNDS accounts and answers one challenge for each, on the shared file.
WORKER = r"""
import sys
from support import NOW, challenge, mc, register, run

path, tag, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
auth = mc.Authenticator(mc.new_software_key_store(), path, False)
server = mc.TestServerSigner()
for i in range(rounds):
    device = f"{tag}-{i}"
    register(auth, server, device, key_store_check=False)
    c = challenge(device_id=device, challenge_id=f"ch-{device}")
    shown = auth.verify_challenge(device, server.sign_challenge(c), NOW)
    run(auth.answer_challenge(device, shown, mc.Decision.DENY, None, NOW))
"""


class TwoProcesses(TempDirTestCase, unittest.TestCase):
    def test_nothing_is_lost(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(__file__)] + sys.path))
        workers = [
            subprocess.Popen([sys.executable, "-c", WORKER, self.accounts_path, tag, str(ROUNDS)], env=env)
            for tag in ("app", "extension")
        ]
        for w in workers:
            self.assertEqual(w.wait(timeout=120), 0)
        with open(self.accounts_path) as f:
            stored = json.load(f)
        ids = sorted(a["device_id"] for a in stored["accounts"])
        expected = sorted(f"{tag}-{i}" for tag in ("app", "extension") for i in range(ROUNDS))
        self.assertEqual(ids, expected)
        for a in stored["accounts"]:
            self.assertIn(f"ch-{a['device_id']}", a["answered"], a["device_id"])


if __name__ == "__main__":
    unittest.main()
