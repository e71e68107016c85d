"""Scanning the registration QR code: a valid link, and each way a link can be wrong."""

import unittest

from support import NOW, SECRET, TempDirTestCase, link, mc


class ParseRegistration(TempDirTestCase, unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.auth = mc.Authenticator(mc.new_software_key_store(), self.accounts_path, False)

    def parse(self, text, now=NOW):
        return self.auth.parse_registration(text, now)

    def assert_field(self, text, field, error=mc.AuthError.InvalidField):
        with self.assertRaises(error) as cm:
            self.parse(text)
        self.assertEqual(cm.exception.field, field)
        self.assertNotIn(SECRET, str(cm.exception))

    def test_valid_link(self):
        info = self.parse(link())
        self.assertEqual(info.server_url(), "https://sso.example.com/")
        self.assertEqual(info.server_host(), "sso.example.com")
        self.assertEqual(info.enrolment_id(), "enr1")
        self.assertEqual(info.expires_at_unix(), NOW + 600)

    def test_server_with_port_and_path(self):
        info = self.parse(link(server="https%3A%2F%2Fsso.example.com%3A8443%2Fauth"))
        self.assertEqual(info.server_url(), "https://sso.example.com:8443/auth/")
        self.assertEqual(info.server_host(), "sso.example.com:8443")

    def test_not_a_registration_link(self):
        for text in ["https://sso.example.com", "hideez-auth://login?v=1", "", "garbage"]:
            with self.subTest(text=text), self.assertRaises(mc.AuthError.NotARegistrationCode):
                self.parse(text)

    def test_unsupported_version(self):
        with self.assertRaises(mc.AuthError.UnsupportedVersion) as cm:
            self.parse(link(v="2"))
        self.assertEqual(cm.exception.version, "2")

    def test_missing_fields(self):
        full = link()
        for name in ["v", "server", "id", "secret", "exp"]:
            params = [p for p in full.split("?", 1)[1].split("&") if not p.startswith(name + "=")]
            with self.subTest(missing=name):
                self.assert_field("hideez-auth://register?" + "&".join(params), name, mc.AuthError.MissingField)

    def test_bad_secret(self):
        self.assert_field(link(secret="AAEC"), "secret")  # 3 bytes
        self.assert_field(link(secret=SECRET + "AA"), "secret")  # 33 bytes
        self.assert_field(link(secret=SECRET + "="), "secret")  # padding
        self.assert_field(link(secret=SECRET.replace("A", "+", 1)), "secret")  # not base64url

    def test_bad_id_exp_server(self):
        self.assert_field(link(enrolment_id="a%20b"), "id")
        self.assert_field(link(enrolment_id="x" * 129), "id")
        self.assert_field(link(exp="tomorrow"), "exp")
        self.assert_field(link(server="ftp://sso.example.com"), "server")
        self.assert_field(link(server="https://user:pw@sso.example.com"), "server")
        self.assert_field(link(server="nonsense"), "server")
        self.assert_field(link() + "&id=other", "id")  # duplicated parameter

    def test_expired(self):
        with self.assertRaises(mc.AuthError.RegistrationExpired) as cm:
            self.parse(link(exp=NOW), now=NOW)
        self.assertEqual(cm.exception.expired_at_unix, NOW)
        self.parse(link(exp=NOW + 1), now=NOW)

    def test_http_only_for_dev_servers(self):
        with self.assertRaises(mc.AuthError.InsecureServer):
            self.parse(link(server="http://localhost:8080"))
        dev = mc.Authenticator(mc.new_software_key_store(), self.accounts_path, True)
        info = dev.parse_registration(link(server="http://localhost:8080"), NOW)
        self.assertEqual(info.server_url(), "http://localhost:8080/")


if __name__ == "__main__":
    unittest.main()
