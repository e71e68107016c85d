// The real mobile-core library, through its generated Kotlin bindings, on the JVM, against a
// real running sso-server (started by bindings/run-kotlin-tests.sh): what an Android app does.
// The key store is written in Kotlin over java.security (P-256, SHA256withECDSA gives DER), as
// an Android Keystore-backed one would be. Scenarios: register from an invitation's QR, approve
// with the typed number, a wrong number, deny, report fraud, offline code, push-token update,
// unregister.

import java.math.BigInteger
import java.net.CookieManager
import java.net.CookiePolicy
import java.net.URI
import java.net.URLEncoder
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.util.concurrent.ConcurrentHashMap
import kotlin.system.exitProcess
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import uniffi.mobile_core.AuthException
import uniffi.mobile_core.Authenticator
import uniffi.mobile_core.BrowserFamily
import uniffi.mobile_core.ChallengePurpose
import uniffi.mobile_core.Decision
import uniffi.mobile_core.Platform
import uniffi.mobile_core.PlatformKeyStore
import uniffi.mobile_core.SignedAnswer

/** Device keys and secrets in memory, with the JDK's own P-256: what an app's key store does. */
class JavaKeyStore : PlatformKeyStore {
    private val keys = ConcurrentHashMap<String, KeyPair>()
    private val secrets = ConcurrentHashMap<String, ByteArray>()

    override suspend fun generateKey(alias: String): ByteArray {
        val g = KeyPairGenerator.getInstance("EC")
        g.initialize(ECGenParameterSpec("secp256r1"))
        val pair = g.generateKeyPair()
        keys[alias] = pair
        val w = (pair.public as ECPublicKey).w
        return byteArrayOf(4) + fixed32(w.affineX) + fixed32(w.affineY)
    }

    override suspend fun sign(alias: String, message: ByteArray): ByteArray {
        val pair = keys[alias] ?: throw AuthException.KeyStore("no key $alias")
        val s = Signature.getInstance("SHA256withECDSA")
        s.initSign(pair.private)
        s.update(message)
        return s.sign() // DER, as Android Keystore gives it
    }

    override suspend fun deleteKey(alias: String) {
        keys.remove(alias)
    }

    override suspend fun saveSecret(alias: String, secret: ByteArray) {
        secrets[alias] = secret.copyOf()
    }

    override suspend fun loadSecret(alias: String): ByteArray =
        secrets[alias] ?: throw AuthException.KeyStore("no secret $alias")

    override suspend fun deleteSecret(alias: String) {
        secrets.remove(alias)
    }

    private fun fixed32(n: BigInteger): ByteArray {
        val b = n.toByteArray().dropWhile { it == 0.toByte() }.toByteArray()
        return ByteArray(32 - b.size) + b
    }
}

val BASE: String = System.getenv("E2E_SSO_URL") ?: error("E2E_SSO_URL is not set")

fun now(): Long = System.currentTimeMillis() / 1000

/** A string or number member of a small JSON object (the test reads only flat members). */
fun member(json: String, name: String): String? {
    val m = Regex("\"" + Regex.escape(name) + "\"\\s*:\\s*(\"((?:[^\"\\\\]|\\\\.)*)\"|-?\\d+|true|false|null)")
        .find(json) ?: return null
    return m.groupValues[2].ifEmpty { m.groupValues[1] }.replace("\\/", "/")
}

fun quote(s: String) = "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\""

/** An HTTP client with cookies: the admin's session, a browser's sign-in, the phone's calls. */
class Http {
    private val client = HttpClient.newBuilder()
        .cookieHandler(CookieManager(null, CookiePolicy.ACCEPT_ALL))
        .followRedirects(HttpClient.Redirect.NEVER)
        .build()
    var csrf: String? = null
    /** The `Location` of the last answer, if any (redirects are not followed). */
    var location: String? = null

    fun call(method: String, url: String, body: String? = null, type: String = "application/json",
             headers: Map<String, String> = emptyMap()): Pair<Int, String> {
        val b = HttpRequest.newBuilder(URI.create(if (url.startsWith("http")) url else BASE + url))
        b.method(method, if (body == null) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofString(body))
        if (body != null) b.header("Content-Type", type)
        csrf?.let { b.header("X-CSRF-Token", it) }
        headers.forEach { (k, v) -> b.header(k, v) }
        val r = client.send(b.build(), HttpResponse.BodyHandlers.ofString())
        location = r.headers().firstValue("location").orElse(null)
        return r.statusCode() to r.body()
    }
}

val admin = Http().also { h ->
    val (status, body) = h.call("POST", "/api/v1/session",
        "{\"username\":${quote(System.getenv("E2E_SSO_ADMIN"))},\"password\":${quote(System.getenv("E2E_SSO_ADMIN_PASSWORD"))}}")
    check(status == 200) { "admin sign-in: $status $body" }
    h.csrf = member(body, "csrf_token")
}

/** An invited employee whose phone (this Authenticator) registered from the invitation's QR. */
class Phone {
    val email = "kt.${System.nanoTime()}@example.test"
    val store = JavaKeyStore()
    val dir = Files.createTempDirectory("kotlin-phone")
    val auth = Authenticator(store, dir.resolve("accounts.json").toString(), true)
    val accountId: String
    val browser = Http()

    init {
        val (s1, e) = admin.call("POST", "/api/v1/employees", "{\"display_name\":\"Kotlin Phone\",\"email\":${quote(email)}}")
        assertEquals(201, s1, e)
        val (s2, inv) = admin.call("POST", "/api/v1/employees/${member(e, "id")}/invitations")
        assertEquals(201, s2, inv)
        val (s3, page) = admin.call("GET", member(inv, "link")!!)
        assertEquals(200, s3)
        val qr = Regex("href=\"(hideez-auth://register[^\"]+)\"").find(page)!!.groupValues[1]
            .replace("&amp;", "&").replace("&#38;", "&").replace("&#x26;", "&")
        val info = auth.parseRegistration(qr, now())
        val req = runBlocking { auth.buildRegistrationRequest(info, "Kotlin phone", null, Platform.OTHER) }
        val (s4, text) = Http().call(req.method, req.url, req.body)
        assertEquals(200, s4, text)
        val account = runBlocking { auth.completeRegistration(info, text) }
        assertEquals(email, account.accountName)
        assertTrue(account.hasOfflineCodes)
        accountId = account.id
    }

    /** The sign-in page's "approve on your phone": returns (challenge id, the number shown). */
    fun startSignIn(): Pair<String, Int> {
        val (status, started) = browser.call("POST", "/login/push", "{\"request\":\"\",\"username\":${quote(email)}}")
        assertEquals(200, status, started)
        return member(started, "challenge")!! to member(started, "number")!!.toInt()
    }

    fun signInState(challenge: String): String {
        val (_, body) = browser.call("POST", "/login/push/status", "{\"challenge\":${quote(challenge)},\"request\":\"\"}")
        return member(body, "state")!!
    }

    fun poll() = runBlocking {
        val req = auth.pollRequest(accountId, now())
        val (status, text) = Http().call(req.method, req.url, headers = req.headers.associate { it.name to it.value })
        assertEquals(200, status, text)
        auth.verifyPollResponse(accountId, text, now())
    }

    fun send(a: SignedAnswer): Pair<Int, String> = Http().call(a.method, a.url, a.body)

    fun answer(decision: Decision, typed: Int?): String {
        val c = poll().single()
        val a = runBlocking { auth.answerChallenge(accountId, c, decision, typed?.toUInt(), now()) }
        val (status, body) = send(a)
        assertEquals(200, status, body)
        return member(body, "result")!!
    }
}

val tests: List<Pair<String, () -> Unit>> = listOf(
    "approve with the typed number" to {
        val p = Phone()
        val (challenge, shown) = p.startSignIn()
        val c = p.poll().single()
        assertEquals(ChallengePurpose.SIGN_IN, c.purpose)
        assertEquals("Kotlin Phone", c.employee)
        assertEquals("pending", p.signInState(challenge))
        // Not two digits: refused by the core before anything is signed.
        for (typed in listOf(0u, 9u, 100u)) {
            val e = assertFailsWith<AuthException.InvalidField> {
                runBlocking { p.auth.answerChallenge(p.accountId, c, Decision.APPROVE, typed, now()) }
            }
            assertEquals("number", e.field)
        }
        val a = runBlocking { p.auth.answerChallenge(p.accountId, c, Decision.APPROVE, shown.toUInt(), now()) }
        assertEquals("approved", member(p.send(a).second, "result"))
        assertEquals("approved", p.signInState(challenge))
        // The phone refuses to answer twice; the server answers a forged second answer 403.
        assertFailsWith<AuthException.AlreadyAnswered> {
            runBlocking { p.auth.answerChallenge(p.accountId, c, Decision.APPROVE, shown.toUInt(), now()) }
        }
        val forged = a.body.replace("\"approve\"", "\"deny\"")
        assertEquals(403, Http().call("POST", a.url, forged).first)
    },
    "a wrong number is a denial" to {
        val p = Phone()
        val (challenge, shown) = p.startSignIn()
        assertEquals("denied", p.answer(Decision.APPROVE, 10 + (shown - 10 + 1) % 90))
        assertEquals("denied", p.signInState(challenge))
    },
    "deny" to {
        val p = Phone()
        val (challenge, _) = p.startSignIn()
        assertEquals("denied", p.answer(Decision.DENY, null))
        assertEquals("denied", p.signInState(challenge))
    },
    "report fraud blocks push sign-in" to {
        val p = Phone()
        val (challenge, _) = p.startSignIn()
        assertEquals("fraud", p.answer(Decision.REPORT_FRAUD, null))
        assertEquals("denied", p.signInState(challenge))
        // The next push for this employee reaches nobody (a decoy, the phone gets nothing).
        p.startSignIn()
        assertEquals(0, p.poll().size)
    },
    "offline code signs in once, then confirm on the phone to enrol" to {
        val p = Phone()
        val code = runBlocking { p.auth.offlineCode(p.accountId, now()) }.code
        fun submit(browser: Http, value: String): Pair<Int, String> {
            val (status, page) = browser.call("GET", "/login")
            assertEquals(200, status)
            val token = Regex("name=\"csrf_token\" value=\"([^\"]+)\"").find(page)!!.groupValues[1]
            val form = listOf("csrf_token" to token, "request" to "", "username" to p.email, "code" to value)
                .joinToString("&") { (k, v) -> k + "=" + URLEncoder.encode(v, "UTF-8") }
            return browser.call("POST", "/login/code", form, "application/x-www-form-urlencoded")
        }
        // Right code: signed in, sent to the account page.
        assertEquals(303, submit(p.browser, code).first)
        val (ok, page) = p.browser.call("GET", p.browser.location!!)
        assertEquals(200, ok, page)
        assertTrue("Kotlin Phone" in page && "/account/logout" in page)
        assertEquals(401, submit(Http(), code).first, "a code is good once")
        // A code is not enough to add a passkey: the account page asks to confirm on the phone,
        // which sees an `enrol` challenge.
        val csrf = Regex("data-csrf=\"([^\"]+)\"").find(page)!!.groupValues[1]
        val h = mapOf("X-CSRF-Token" to csrf)
        assertEquals(403, p.browser.call("POST", "/account/passkeys/options", "{}", headers = h).first)
        val (s1, started) = p.browser.call("POST", "/account/confirm", "{}", headers = h)
        assertEquals(200, s1, started)
        val c = p.poll().single()
        assertEquals(ChallengePurpose.ENROL, c.purpose)
        val a = runBlocking {
            p.auth.answerChallenge(p.accountId, c, Decision.APPROVE, member(started, "number")!!.toUInt(), now())
        }
        assertEquals("approved", member(p.send(a).second, "result"))
        val (_, st) = p.browser.call("POST", "/account/confirm/status",
            "{\"challenge\":${quote(member(started, "challenge")!!)}}", headers = h)
        assertEquals("approved", member(st, "state"))
        assertEquals(200, p.browser.call("POST", "/account/passkeys/options", "{}", headers = h).first)
    },
    "two open prompts: the phone says so and approves neither until one is denied" to {
        val p = Phone()
        val (mine, shown) = p.startSignIn()
        val (theirs, _) = p.startSignIn()
        val open = p.poll()
        assertEquals(2, open.size)
        assertTrue(open.all { it.concurrent })
        // The browser family is the server's word for it (this JVM's HTTP client: another one).
        assertEquals(BrowserFamily.OTHER, open.first().browser)
        val c = open.single { it.challengeId == mine }
        assertFailsWith<AuthException.AnotherPromptOpen> {
            runBlocking { p.auth.answerChallenge(p.accountId, c, Decision.APPROVE, shown.toUInt(), now()) }
        }
        val other = open.single { it.challengeId == theirs }
        val deny = runBlocking { p.auth.answerChallenge(p.accountId, other, Decision.DENY, null, now()) }
        assertEquals("denied", member(p.send(deny).second, "result"))
        val again = p.poll().single()
        assertTrue(!again.concurrent)
        val a = runBlocking { p.auth.answerChallenge(p.accountId, again, Decision.APPROVE, shown.toUInt(), now()) }
        assertEquals("approved", member(p.send(a).second, "result"))
        assertEquals("approved", p.signInState(mine))
    },
    "push-token update and unregister" to {
        val p = Phone()
        val t = runBlocking { p.auth.pushTokenRequest(p.accountId, "fcm-token-kotlin", now()) }
        assertEquals(200 to "updated", Http().call(t.method, t.url, t.body).let { it.first to member(it.second, "result") })
        val u = runBlocking { p.auth.unregisterRequest(p.accountId, now()) }
        assertEquals(200, Http().call(u.method, u.url, u.body).first)
        assertEquals(404, Http().call(u.method, u.url, u.body).first, "a replay finds nothing")
        runBlocking { p.auth.removeAccount(p.accountId) }
        assertEquals(0, p.auth.accounts().size)
    },
)

fun main(args: Array<String>) {
    var passed = 0
    var failed = 0
    for ((name, test) in tests) {
        if (args.isNotEmpty() && args.none { name.contains(it) }) continue
        try {
            test()
            passed++
            println("ok      $name")
        } catch (e: Throwable) {
            failed++
            println("FAILED  $name: $e")
            e.printStackTrace()
        }
    }
    println("kotlin: $passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
