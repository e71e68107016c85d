"""The real library against a real running sso-server (started by run-python-tests.sh): register
from an invitation's QR payload, then approve a sign-in with the right number, deny one, answer
with a wrong number, miss an expired challenge, have a replayed approval refused, change the
push token and unregister."""

import html
import http.cookiejar
import json
import os
import re
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from support import TempDirTestCase, eventually, mc, run

BASE = os.environ.get("E2E_SSO_URL")


def now():
    return int(time.time())


class Http:
    """A tiny client with cookies (the admin's session, the browser's sign-in)."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = None

    def call(self, method, url, body=None, headers=None):
        data = None
        h = dict(headers or {})
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if self.csrf:
            h["X-CSRF-Token"] = self.csrf
        req = urllib.request.Request(url if url.startswith("http") else BASE + url, data=data, headers=h, method=method)
        try:
            with self.opener.open(req) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def json(self, method, url, body=None, headers=None):
        status, text = self.call(method, url, body, headers)
        return status, (json.loads(text) if text else None)


@unittest.skipUnless(BASE, "no running sso-server (run bindings/run-python-tests.sh)")
class LiveServer(TempDirTestCase, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.admin = Http()
        status, body = cls.admin.json("POST", "/api/v1/session", {
            "username": os.environ["E2E_SSO_ADMIN"], "password": os.environ["E2E_SSO_ADMIN_PASSWORD"]})
        assert status == 200, body
        cls.admin.csrf = body["csrf_token"]

    def setUp(self):
        super().setUp()
        # An employee invited through the outbox (no SMTP in this test server).
        self.email = f"py.{time.time_ns()}@example.test"
        status, e = self.admin.json("POST", "/api/v1/employees", {"display_name": "Python Phone", "email": self.email})
        self.assertEqual(status, 201, e)
        status, inv = self.admin.json("POST", f"/api/v1/employees/{e['id']}/invitations")
        self.assertEqual(status, 201, inv)
        # The invitation page shows the QR payload; the phone registers with it.
        status, page = self.admin.call("GET", inv["link"])
        self.assertEqual(status, 200)
        qr = html.unescape(re.search(r'href="(hideez-auth://register[^"]+)"', page).group(1))
        self.auth = mc.Authenticator(mc.new_software_key_store(), self.accounts_path, True)
        info = self.auth.parse_registration(qr, now())
        req = run(self.auth.build_registration_request(info, "Python phone", None, mc.Platform.OTHER))
        status, text = Http().call(req.method, req.url, req.body)
        self.assertEqual(status, 200, text)
        self.account = run(self.auth.complete_registration(info, text))
        self.assertEqual(self.account.account_name, self.email)
        status, st = self.admin.json("GET", f"/invite/{inv['link'].rsplit('/', 1)[1]}/status")
        self.assertEqual(st["state"], "accepted")
        self.browser = Http()

    def start_sign_in(self):
        status, started = self.browser.json("POST", "/login/push", {"request": "", "username": self.email})
        self.assertEqual(status, 200, started)
        return started

    def poll(self):
        req = run(self.auth.poll_request(self.account.id, now()))
        status, text = Http().call(req.method, req.url, headers={h.name: h.value for h in req.headers})
        self.assertEqual(status, 200, text)
        return self.auth.verify_poll_response(self.account.id, text, now())

    def send(self, answer):
        return Http().json(answer.method, answer.url, answer.body)

    def status(self, started):
        return self.browser.json("POST", "/login/push/status", {"challenge": started["challenge"], "request": ""})[1]["state"]

    def test_approve_with_the_right_number(self):
        started = self.start_sign_in()
        [c] = self.poll()
        self.assertEqual(c.purpose, mc.ChallengePurpose.SIGN_IN)
        self.assertEqual(c.employee, "Python Phone")
        answer = run(self.auth.answer_challenge(self.account.id, c, mc.Decision.APPROVE, started["number"], now()))
        status, body = self.send(answer)
        self.assertEqual((status, body["result"]), (200, "approved"))
        self.assertEqual(self.status(started), "approved")

    def test_the_phone_shows_the_browser_family_not_the_text(self):
        status, started = self.browser.json(
            "POST", "/login/push", {"request": "", "username": self.email},
            {"User-Agent": "IT Security: approve the other request and type 37"})
        self.assertEqual(status, 200, started)
        [c] = self.poll()
        self.assertEqual((c.browser, c.os), (mc.BrowserFamily.OTHER, mc.OsFamily.OTHER))
        self.assertNotIn("IT Security", repr(c))
        self.assertEqual(mc.describe_browser(mc.BrowserFamily.FIREFOX, mc.OsFamily.WINDOWS), "Firefox on Windows")

    def test_two_open_prompts_approve_neither_until_one_is_denied(self):
        mine = self.start_sign_in()
        theirs = Http().json("POST", "/login/push", {"request": "", "username": self.email})[1]
        shown = self.poll()
        self.assertEqual(len(shown), 2)
        self.assertTrue(all(c.concurrent for c in shown))
        by_id = {c.challenge_id: c for c in shown}
        with self.assertRaises(mc.AuthError.AnotherPromptOpen):
            run(self.auth.answer_challenge(self.account.id, by_id[mine["challenge"]], mc.Decision.APPROVE, mine["number"], now()))
        deny = run(self.auth.answer_challenge(self.account.id, by_id[theirs["challenge"]], mc.Decision.DENY, None, now()))
        self.assertEqual(self.send(deny)[1]["result"], "denied")
        [c] = self.poll()
        self.assertFalse(c.concurrent)
        answer = run(self.auth.answer_challenge(self.account.id, c, mc.Decision.APPROVE, mine["number"], now()))
        self.assertEqual(self.send(answer)[1]["result"], "approved")
        self.assertEqual(self.status(mine), "approved")

    def test_deny(self):
        started = self.start_sign_in()
        [c] = self.poll()
        answer = run(self.auth.answer_challenge(self.account.id, c, mc.Decision.DENY, None, now()))
        self.assertEqual(self.send(answer)[1]["result"], "denied")
        self.assertEqual(self.status(started), "denied")

    def test_a_wrong_number_is_a_denial(self):
        started = self.start_sign_in()
        [c] = self.poll()
        wrong = 10 + (started["number"] - 10 + 1) % 90  # typed off by one
        answer = run(self.auth.answer_challenge(self.account.id, c, mc.Decision.APPROVE, wrong, now()))
        self.assertEqual(self.send(answer)[1]["result"], "denied")
        self.assertEqual(self.status(started), "denied")

    def test_an_expired_challenge_is_refused(self):
        started = self.start_sign_in()
        [c] = self.poll()
        # Signed in time, sent too late: the test server gives challenges 3 seconds (the server
        # binary has no settable clock, so real time passes; the test waits by a deadline for
        # the expiry instead of a fixed sleep).
        answer = run(self.auth.answer_challenge(self.account.id, c, mc.Decision.APPROVE, started["number"], now()))
        eventually(lambda: self.status(started) == "expired", "the challenge to expire")
        status, body = self.send(answer)
        self.assertEqual(status, 409, body)
        self.assertIn("expired", body["message"])
        self.assertEqual(self.status(started), "expired")
        self.assertEqual(self.poll(), [])

    def test_a_replayed_approval_is_refused(self):
        started = self.start_sign_in()
        [c] = self.poll()
        answer = run(self.auth.answer_challenge(self.account.id, c, mc.Decision.APPROVE, started["number"], now()))
        self.assertEqual(self.send(answer)[0], 200)
        # The phone itself refuses to answer twice...
        with self.assertRaises(mc.AuthError):
            run(self.auth.answer_challenge(self.account.id, c, mc.Decision.APPROVE, started["number"], now()))
        # ...and the server turns one approval into one sign-in only.
        self.assertEqual(self.status(started), "approved")
        self.assertEqual(self.status(started), "expired")
        forged = json.loads(answer.body)
        forged["decision"] = "deny"
        status, _ = Http().json("POST", answer.url, forged)
        self.assertEqual(status, 403)

    def test_offline_code_signs_in_once(self):
        self.assertTrue(self.account.has_offline_codes)
        code = run(self.auth.offline_code(self.account.id, now())).code

        def submit(browser, value):
            status, page = browser.call("GET", "/login")
            self.assertEqual(status, 200)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            form = urllib.parse.urlencode({"csrf_token": token, "request": "", "username": self.email, "code": value})
            return browser.call("POST", "/login/code", form, {"Content-Type": "application/x-www-form-urlencoded"})

        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        status, page = submit(self.browser, wrong)
        self.assertEqual(status, 401)
        self.assertIn("Wrong account or code", page)
        # Right code: signed in, redirected to the account page.
        status, page = submit(self.browser, code)
        self.assertEqual(status, 200, page)
        self.assertIn("Python Phone", page)
        self.assertIn("/account/logout", page)
        # The same code again, in another browser: refused.
        status, _ = submit(Http(), code)
        self.assertEqual(status, 401)

    def test_push_token_update_and_unregister(self):
        req = run(self.auth.push_token_request(self.account.id, "fcm-token-1", now()))
        status, body = Http().json(req.method, req.url, req.body)
        self.assertEqual((status, body["result"]), (200, "updated"))
        # The employee removes the account: the server forgets the device first, then the phone.
        req = run(self.auth.unregister_request(self.account.id, now()))
        status, body = Http().json(req.method, req.url, req.body)
        self.assertEqual((status, body["result"]), (200, "unregistered"))
        status, _ = Http().json(req.method, req.url, req.body)
        self.assertEqual(status, 404, "a replay finds nothing")
        # A sign-in no longer reaches this phone: its poll is refused.
        poll = run(self.auth.poll_request(self.account.id, now()))
        status, _ = Http().call(poll.method, poll.url, headers={h.name: h.value for h in poll.headers})
        self.assertEqual(status, 403)
        run(self.auth.remove_account(self.account.id))
        self.assertEqual(self.auth.accounts(), [])


if __name__ == "__main__":
    unittest.main()
