# Die Texte für Beschäftigte auf Deutsch. Jeder Schlüssel muss in jeder Sprache vorhanden sein
# (ein Unit-Test in src/i18n.rs prüft das). Argumente: { $name }.

language-switch = Sprache

## Anmeldeseite
signin-title = Anmelden
signin-continue-to = weiter zu
signin-account = Konto
signin-account-placeholder = name@firma.de oder DOMÄNE\name
signin-account-hint = Ihre dienstliche E-Mail-Adresse oder Ihr Domänenkonto. Ein in diesem Browser gespeicherter Passkey wird beim Tippen angeboten.
signin-phone-button = Anfrage an mein Telefon senden
signin-phone-last = Sie haben sich in diesem Browser zuletzt mit dem Telefon angemeldet.
signin-phone-number = Geben Sie zur Bestätigung diese Zahl auf Ihrem Telefon ein:
signin-other-ways = Andere Anmeldemöglichkeiten
signin-last-used = zuletzt hier verwendet
signin-code-heading = Code aus der Telefon-App
signin-code-hint = Kein Netz auf dem Telefon? Öffnen Sie die App und geben Sie den angezeigten 6-stelligen Code ein.
signin-code-label = Code
signin-code-button = Mit dem Code anmelden
signin-password-heading = Domänenpasswort
signin-password-label = Passwort
signin-password-button = Mit dem Passwort anmelden
signin-passkey-heading = Passkey
signin-passkey-hint = Auf diesem Gerät, mit einem Sicherheitsschlüssel oder einem Telefon in der Nähe (QR-Code scannen).
signin-passkey-button = Passkey verwenden
signin-needs-js = Die Bestätigung auf dem Telefon braucht JavaScript in diesem Browser. Verwenden Sie stattdessen einen Code aus der Telefon-App oder Ihr Domänenpasswort.
signin-error-csrf = Das Formular ist abgelaufen oder kam von einer anderen Website. Bitte melden Sie sich erneut an.
signin-error-throttled = Zu viele fehlgeschlagene Anmeldungen aus Ihrem Netzwerk. Versuchen Sie es in { $seconds } Sekunden erneut.
signin-error-code = Falsches Konto oder falscher Code, oder dieses Konto kann sich hier gerade nicht anmelden (nach Fehlversuchen wartet es eine Weile). Codes wechseln alle 30 Sekunden und gelten einmal.
signin-error-codes-paused = Die Anmeldung mit Offline-Codes ist nach zu vielen falschen Codes im Unternehmen für heute ausgesetzt. Bestätigen Sie auf Ihrem Telefon oder verwenden Sie einen Passkey.
signin-error-password = Falsches Konto oder falsches Passwort, oder dieses Konto kann sich hier gerade nicht anmelden (nach Fehlversuchen wartet es eine Weile, oder seine Domäne ist nicht erreichbar). Ein Passkey oder Ihr Telefon funktioniert vielleicht trotzdem.
signin-error-passkey = Mit diesem Passkey ist keine Anmeldung möglich.

## Meldungen des Seitenskripts
js-denied = Die Anfrage wurde auf dem Telefon abgelehnt.
js-no-answer = Keine Antwort vom Telefon. Versuchen Sie es erneut oder melden Sie sich anders an.
js-refused = Der Server hat die Anfrage abgelehnt.

## Kontoseite
account-title = Ihr Konto
account-confirm-heading = Bestätigen Sie, dass Sie es sind
account-confirm-no-phone = Um einen Passkey oder ein Telefon hinzuzufügen, melden Sie sich erneut mit einem Passkey an oder verwenden Sie den Einladungslink Ihrer Administration.
account-confirm-phone = Um einen Passkey oder ein Telefon hinzuzufügen, bestätigen Sie zuerst auf Ihrem Telefon.
account-confirm-button = Auf meinem Telefon bestätigen
account-passkeys = Passkeys
account-no-passkey = Noch kein Passkey. Fügen Sie einen hinzu, um sich ohne Passwort anzumelden.
account-passkey-dates = hinzugefügt { $added }, zuletzt verwendet { $used }
account-never = nie
account-not-yet = noch nicht
account-rename-label = Neuer Name
account-rename-button = Umbenennen
account-remove = Entfernen
account-remove-passkey = Passkey { $name } entfernen
account-new-passkey-label = Name für einen neuen Passkey
account-new-passkey-default = Mein Passkey
account-add-passkey = Passkey hinzufügen
account-phone = Telefon
account-no-phone = Kein Telefon registriert.
account-phone-details = { $platform }, registriert { $registered }, zuletzt gesehen { $seen }
account-remove-phone = Telefon { $name } entfernen
account-register-phone = Telefon registrieren
account-replace-phone = Mein Telefon ersetzen
account-sign-ins = Letzte Anmeldungen
account-no-sign-ins = Noch keine erfasst.
account-sign-in-from = von { $place }
account-sign-in-to = { $method }, bei { $app }
account-method-passkey = Passkey
account-method-phone = auf dem Telefon bestätigt
account-method-code = Code aus der App
account-method-password = Domänenpasswort
place-this-computer = diesem Computer
place-company-network = dem Firmennetz
place-internet = dem Internet
account-sign-out = Abmelden
account-sign-out-everywhere = Überall abmelden
account-sign-out-everywhere-hint = Beendet Ihre Anmeldung in jedem Browser und in jeder App.

## Telefon auf der Kontoseite registrieren
phone-title = Telefon registrieren
phone-scan = Öffnen Sie die Authenticator-App auf dem neuen Telefon und scannen Sie diesen Code (er gilt einmal, { $minutes } Minuten lang).
phone-qr = QR-Code zur Registrierung
phone-open-link = Auf dem Telefon selbst stattdessen diesen Link öffnen
phone-replaces = Ihr bisheriges Telefon kann keine Anmeldungen mehr bestätigen, sobald das neue registriert ist.
phone-back = Zurück zu Ihrem Konto

## Einladungsseite
invite-title = Anmeldung einrichten
invite-welcome = Willkommen, { $name }
invite-choose = Wählen Sie, wie Sie sich künftig anmelden.
invite-done = Alles eingerichtet. Sie können diese Seite schließen.
invite-phone-heading = Die Telefon-App
invite-phone-scan = Öffnen Sie die Authenticator-App und scannen Sie diesen Code (er gilt einmal, { $minutes } Minuten lang; für einen neuen laden Sie die Seite neu).
invite-download = Code als PNG herunterladen
invite-passkey-heading = Ein Passkey auf diesem Gerät
invite-passkey-name = Name für den Passkey
invite-passkey-button = Passkey erstellen

## Meldungsseiten
msg-signed-out-title = Abgemeldet
msg-signed-out = Sie sind abgemeldet.
msg-not-signed-out = Nicht abgemeldet
msg-form-expired = Das Formular ist abgelaufen. Gehen Sie zurück und versuchen Sie es erneut.
msg-form-expired-account = Das Formular ist abgelaufen. Gehen Sie zurück zu Ihrer Kontoseite und versuchen Sie es erneut.
msg-removal-step-up = Um einen Passkey oder Ihr Telefon zu entfernen, bestätigen Sie zuerst auf Ihrem Telefon (über Ihre Kontoseite) oder melden Sie sich erneut mit einem Passkey an (innerhalb der letzten 10 Minuten).
msg-phone-step-up = Um ein neues Telefon zu registrieren, melden Sie sich erneut mit einem Passkey an oder bestätigen Sie auf Ihrem bisherigen Telefon (innerhalb der letzten 10 Minuten). Telefon verloren? Bitten Sie Ihre Administration um eine neue Einladung.
msg-nothing-changed = Nichts geändert
msg-not-removed = Nicht entfernt
msg-not-renamed = Nicht umbenannt
msg-not-done = Nicht erledigt
msg-signed-out-everywhere-title = Überall abgemeldet
msg-signed-out-everywhere = Sie sind in jedem Browser abgemeldet.
msg-apps-ended = { $count ->
    [0] Keine App hatte eine Anmeldung.
    [one] Eine App muss Sie erneut anmelden.
   *[other] { $count } Apps müssen Sie erneut anmelden.
}
msg-name-invalid = Der Name (Feld `name`) muss 1 bis 64 Zeichen lang sein.
msg-no-such-passkey = Diesen Passkey haben Sie nicht.
msg-no-such-phone = Dieses Telefon haben Sie nicht.
msg-sign-in-first = Melden Sie sich zuerst anders an
msg-invitation-invalid-title = Einladung nicht gültig
msg-invitation-invalid = Dieser Einladungslink ist nicht mehr gültig: Er wurde schon verwendet, ist abgelaufen, wurde zurückgezogen (zum Beispiel weil Ihr Konto deaktiviert wurde) oder durch einen neueren ersetzt. Bitten Sie Ihre Administration oder Ihren IT-Helpdesk um eine neue Einladung.
msg-sign-in-not-accepted = Anmeldeanfrage nicht angenommen
msg-sign-out-confirm-title = Abmelden?
msg-sign-out-confirm = { $name } vom SSO-Server und den darüber genutzten Anwendungen abmelden?
msg-sign-out-not-accepted = Abmeldeanfrage nicht angenommen

## E-Mails
mail-hello = Hallo { $name },
mail-invite-subject = Richten Sie Ihre passwortlose Anmeldung ein
mail-invite-body = { $org } lädt Sie ein, sich ohne Passwörter anzumelden. Öffnen Sie diesen Link, um einen Passkey oder die Authenticator-App auf dem Telefon einzurichten:
mail-invite-button = Meine Anmeldung einrichten
mail-invite-expiry = Der Link gilt einmal, bis { $expires }. Wenn Sie diese Nachricht nicht erwartet haben, ignorieren Sie sie.
mail-key-subject = Aktivierungscode für Ihren Sicherheitsschlüssel
mail-key-ready = Ihr Sicherheitsschlüssel { $serial } ist bereit. Öffnen Sie auf Ihrem Computer die Key-Bridge und geben Sie diesen Aktivierungscode ein:
mail-key-expiry = Er gilt { $hours } Stunden lang und nur für diesen Schlüssel. Wenn Sie ihn nicht erwartet haben, wenden Sie sich an Ihre Administration.
mail-notice-subject = Sicherheitshinweis: Ihre Anmeldemethoden wurden geändert
mail-notice-footer = Wenn Sie das waren, ist nichts zu tun. Wenn nicht, wenden Sie sich sofort an Ihre Administration: Jemand könnte Ihr Passwort kennen.
mail-notice-passkey-added = Ein Passkey namens „{ $name }“ wurde Ihrem Konto hinzugefügt.
mail-notice-passkey-removed = Der Passkey „{ $name }“ wurde aus Ihrem Konto entfernt; mit ihm ist keine Anmeldung mehr möglich.
mail-notice-phone-registered = Ein Telefon namens „{ $name }“ wurde zum Bestätigen Ihrer Anmeldungen registriert.
mail-notice-phone-replaced = Ein Telefon namens „{ $name }“ wurde zum Bestätigen Ihrer Anmeldungen registriert; es ersetzt Ihr bisheriges Telefon.
mail-notice-phone-removed = Ihr Telefon wurde aus Ihrem Konto entfernt; es kann Ihre Anmeldungen nicht mehr bestätigen.
mail-notice-phone-removed-by-admin = Ihr Telefon wurde von der Administration aus Ihrem Konto entfernt; es kann Ihre Anmeldungen nicht mehr bestätigen.
mail-notice-phone-unregistered = Das Telefon „{ $name }“ wurde auf dem Telefon selbst aus Ihrem Konto entfernt; es kann Ihre Anmeldungen nicht mehr bestätigen.
