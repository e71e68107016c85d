# The employee-facing text in English. Every key here must exist in every other language
# (a unit test in src/i18n.rs checks it). Arguments: { $name }.

language-switch = Language

## Sign-in page
signin-title = Sign in
signin-continue-to = to continue to
signin-account = Account
signin-account-placeholder = name@company.com or DOMAIN\name
signin-account-hint = Your work e-mail or domain account. A passkey saved in this browser is offered as you type.
signin-phone-button = Send a request to my phone
signin-phone-last = You used your phone last time on this browser.
signin-phone-number = On your phone, type this number to approve:
signin-other-ways = Other ways to sign in
signin-last-used = last used here
signin-code-heading = Code from the phone app
signin-code-hint = No network on your phone? Open the app and type the 6-digit code it shows.
signin-code-label = Code
signin-code-button = Sign in with the code
signin-password-heading = Domain password
signin-password-label = Password
signin-password-button = Sign in with the password
signin-passkey-heading = Passkey
signin-passkey-hint = On this device, a security key, or a phone nearby (scan a QR code).
signin-passkey-button = Use a passkey
signin-needs-js = Approving on your phone needs JavaScript in this browser. Use a code from the phone app or your domain password instead.
signin-error-csrf = The form expired or came from another site. Please sign in again.
signin-error-throttled = Too many failed sign-ins from your network. Try again in { $seconds } seconds.
signin-error-code = Wrong account or code, or this account cannot sign in here right now (after failed attempts it waits a while). Codes change every 30 seconds and work once.
signin-error-codes-paused = Sign-in with offline codes is paused for today after too many wrong codes across the company. Approve on your phone or use a passkey.
signin-error-password = Wrong account or password, or this account cannot sign in here right now (after failed attempts it waits a while, or its domain cannot be reached). A passkey or your phone may still work.
signin-error-passkey = This passkey could not sign you in.

## Messages the page's script shows
js-denied = The request was denied on the phone.
js-no-answer = No answer from the phone. Try again, or use another way to sign in.
js-refused = The server refused the request.

## Account page
account-title = Your account
account-confirm-heading = Confirm it is you
account-confirm-no-phone = To add a passkey or a phone, sign in again with a passkey, or use the invitation link from your administrator.
account-confirm-phone = To add a passkey or a phone, approve on your phone first.
account-confirm-button = Confirm on my phone
account-passkeys = Passkeys
account-no-passkey = No passkey yet. Add one to sign in without a password.
account-passkey-dates = added { $added }, last used { $used }
account-never = never
account-not-yet = not yet
account-rename-label = New name
account-rename-button = Rename
account-remove = Remove
account-remove-passkey = Remove the passkey { $name }
account-new-passkey-label = Name for a new passkey
account-new-passkey-default = My passkey
account-add-passkey = Add a passkey
account-phone = Phone
account-no-phone = No phone registered.
account-phone-details = { $platform }, registered { $registered }, last seen { $seen }
account-remove-phone = Remove the phone { $name }
account-register-phone = Register a phone
account-replace-phone = Replace my phone
account-sign-ins = Recent sign-ins
account-no-sign-ins = None recorded yet.
account-sign-in-from = from { $place }
account-sign-in-to = { $method }, to { $app }
account-method-passkey = passkey
account-method-phone = approved on the phone
account-method-code = code from the phone app
account-method-password = domain password
place-this-computer = this computer
place-company-network = the company network
place-internet = the internet
account-sign-out = Sign out
account-sign-out-everywhere = Sign out everywhere
account-sign-out-everywhere-hint = Ends your sign-in on every browser and in every app.

## Registering a phone from the account page
phone-title = Register a phone
phone-scan = Open the authenticator app on the new phone and scan this code (it works once, for { $minutes } minutes).
phone-qr = Registration QR code
phone-open-link = On the phone itself, open this link instead
phone-replaces = Your current phone stops working for sign-in once the new one is registered.
phone-back = Back to your account

## Invitation page
invite-title = Set up your sign-in
invite-welcome = Welcome, { $name }
invite-choose = Choose how you will sign in from now on.
invite-done = You are set up. You can close this page.
invite-phone-heading = The phone app
invite-phone-scan = Open the authenticator app and scan this code (it works once, for { $minutes } minutes; reload the page for a new one).
invite-download = Download the code as PNG
invite-passkey-heading = A passkey on this device
invite-passkey-name = Name for the passkey
invite-passkey-button = Create a passkey

## Message pages
msg-signed-out-title = Signed out
msg-signed-out = You are signed out.
msg-not-signed-out = Not signed out
msg-form-expired = The form expired. Go back and try again.
msg-form-expired-account = The form expired. Go back to your account page and try again.
msg-removal-step-up = To remove a passkey or your phone, first confirm on your phone (from your account page) or sign in again with a passkey (it must be within the last 10 minutes).
msg-phone-step-up = To register a new phone, sign in again with a passkey or by approving on your current phone (within the last 10 minutes). Lost your phone? Ask your administrator for a new invitation.
msg-nothing-changed = Nothing changed
msg-not-removed = Not removed
msg-not-renamed = Not renamed
msg-not-done = Not done
msg-signed-out-everywhere-title = Signed out everywhere
msg-signed-out-everywhere = You are signed out on every browser.
msg-apps-ended = { $count ->
    [0] No app held a sign-in.
    [one] One app must ask you to sign in again.
   *[other] { $count } apps must ask you to sign in again.
}
msg-name-invalid = The name (field `name`) must be 1 to 64 characters.
msg-no-such-passkey = You have no such passkey.
msg-no-such-phone = You have no such phone.
msg-sign-in-first = Sign in another way first
msg-invitation-invalid-title = Invitation not valid
msg-invitation-invalid = This invitation link is not valid any more: it was used, it expired, it was withdrawn (for example when your account was disabled), or a newer one replaced it. Ask your administrator or your IT helpdesk for a new invitation.
msg-sign-in-not-accepted = Sign-in request not accepted
msg-sign-out-confirm-title = Sign out?
msg-sign-out-confirm = Sign out { $name } from the SSO server and the applications you use through it?
msg-sign-out-not-accepted = Sign-out request not accepted

## E-mails
mail-hello = Hello { $name },
mail-invite-subject = Set up your passwordless sign-in
mail-invite-body = { $org } invites you to sign in without passwords. Open this link to set up a passkey or the phone authenticator app:
mail-invite-button = Set up my sign-in
mail-invite-expiry = The link works once, until { $expires }. If you did not expect this message, ignore it.
mail-key-subject = Your security key's activation code
mail-key-ready = your security key { $serial } is ready. On your computer, open the key-bridge and enter this activation code:
mail-key-expiry = It works for { $hours } hours and only for this key. If you did not expect it, tell your administrator.
mail-notice-subject = Security notice: your sign-in methods changed
mail-notice-footer = If this was you, there is nothing to do. If it was not, tell your administrator at once: someone may have your password.
mail-notice-passkey-added = A passkey named "{ $name }" was added to your account.
mail-notice-passkey-removed = The passkey "{ $name }" was removed from your account; it can no longer sign you in.
mail-notice-phone-registered = A phone named "{ $name }" was registered for approving your sign-ins.
mail-notice-phone-replaced = A phone named "{ $name }" was registered for approving your sign-ins; it replaces your previous phone.
mail-notice-phone-removed = Your phone was removed from your account; it can no longer approve your sign-ins.
mail-notice-phone-removed-by-admin = Your phone was removed from your account by an administrator; it can no longer approve your sign-ins.
mail-notice-phone-unregistered = The phone "{ $name }" was removed from your account from the phone itself; it can no longer approve your sign-ins.
