//! The emulated key through the public API, as the agent and the server's tests will use it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use key_bridge::{
    Credential, EmulatedKey, EmulatedKeyConfig, Fault, KeyDevice, KeyError, StoreError,
    DEFAULT_PIN_ATTEMPTS, DEFAULT_SLOTS,
};

const STORAGE_KEY: [u8; 32] = [0x42; 32];
const CODE: &str = "483920";
const PASSWORD: &str = "Zq7!long-Domain-Passw0rd";

fn config(slots: u32) -> EmulatedKeyConfig {
    EmulatedKeyConfig {
        serial: Some("EMU-0001".into()),
        slots,
        max_pin_attempts: 3,
    }
}

fn linked(slots: u32) -> EmulatedKey {
    let mut key = EmulatedKey::in_memory(config(slots)).unwrap();
    key.link(CODE).unwrap();
    key
}

fn cred(name: &str, password: &str) -> Credential {
    Credential::new(name, format!("CORP\\{name}"), password)
}

fn key_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("key.emu")
}

fn flip_byte(path: &Path, index_from_end: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() - 1 - index_from_end;
    bytes[i] ^= 0x80;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn default_config_has_sixteen_slots_and_a_random_serial() {
    assert_eq!(DEFAULT_SLOTS, 16);
    let mut a = EmulatedKey::in_memory(EmulatedKeyConfig::default()).unwrap();
    let b = EmulatedKey::in_memory(EmulatedKeyConfig::default()).unwrap();
    let status = a.status().unwrap();
    assert_eq!(status.slots, 16);
    assert_eq!(status.free_slots, 16);
    assert_eq!(status.pin_attempts_left, DEFAULT_PIN_ATTEMPTS);
    assert!(!status.linked && !status.pin_set && !status.locked);
    assert!(a.serial().starts_with("EMU-"), "{}", a.serial());
    assert_ne!(a.serial(), b.serial());
}

#[test]
fn invalid_config_is_refused() {
    for bad in [config(0), config(1025)] {
        assert!(matches!(
            EmulatedKey::in_memory(bad),
            Err(StoreError::InvalidConfig(_))
        ));
    }
    let no_attempts = EmulatedKeyConfig {
        max_pin_attempts: 0,
        ..config(4)
    };
    assert!(matches!(
        EmulatedKey::in_memory(no_attempts),
        Err(StoreError::InvalidConfig(_))
    ));
}

#[test]
fn slots_fill_up_then_no_free_slot() {
    let mut key = linked(3);
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        key.write_credential(&cred(name, "pw")).unwrap();
        assert_eq!(key.status().unwrap().free_slots, 2 - i as u32);
    }
    assert_eq!(
        key.write_credential(&cred("d", "pw")),
        Err(KeyError::NoFreeSlot)
    );
    assert_eq!(
        key.read_credential("d"),
        Err(KeyError::NoSuchCredential("d".into()))
    );
    // Deleting one frees its slot for a new name.
    key.delete_credential("b").unwrap();
    assert_eq!(key.status().unwrap().free_slots, 1);
    key.write_credential(&cred("d", "pw")).unwrap();
    assert_eq!(key.read_credential("d").unwrap().login, "CORP\\d");
}

#[test]
fn overwrite_in_place_does_not_consume_a_slot() {
    let mut key = linked(2);
    key.write_credential(&cred("corp", "old-password")).unwrap();
    key.write_credential(&cred("other", "x")).unwrap();
    assert_eq!(key.status().unwrap().free_slots, 0);
    // The key is full, yet a rotation of an existing credential lands.
    key.write_credential(&cred("corp", PASSWORD)).unwrap();
    assert_eq!(key.status().unwrap().free_slots, 0);
    assert_eq!(key.read_credential("corp").unwrap().password, PASSWORD);
    assert_eq!(key.read_credential("other").unwrap().password, "x");
}

#[test]
fn read_or_delete_of_a_missing_name_errors() {
    let mut key = linked(2);
    assert_eq!(
        key.read_credential("nope"),
        Err(KeyError::NoSuchCredential("nope".into()))
    );
    assert_eq!(
        key.delete_credential("nope"),
        Err(KeyError::NoSuchCredential("nope".into()))
    );
}

#[test]
fn writes_need_a_linked_key_and_a_name() {
    let mut key = EmulatedKey::in_memory(config(2)).unwrap();
    assert_eq!(
        key.write_credential(&cred("corp", "pw")),
        Err(KeyError::NotLinked)
    );
    key.link(CODE).unwrap();
    assert!(matches!(
        key.write_credential(&cred("", "pw")),
        Err(KeyError::InvalidInput(_))
    ));
    assert_eq!(key.status().unwrap().free_slots, 2);
}

#[test]
fn pin_counts_down_wipes_and_the_right_pin_resets() {
    let mut key = linked(4);
    key.set_pin("2468").unwrap();
    key.write_credential(&cred("corp", PASSWORD)).unwrap();

    assert_eq!(
        key.verify_pin("0000"),
        Err(KeyError::WrongPin { attempts_left: 2 })
    );
    // A wrong PIN closes the session.
    assert_eq!(key.read_credential("corp"), Err(KeyError::PinRequired));
    assert_eq!(
        key.verify_pin("1111"),
        Err(KeyError::WrongPin { attempts_left: 1 })
    );
    key.verify_pin("2468").unwrap();
    assert_eq!(key.status().unwrap().pin_attempts_left, 3);
    assert_eq!(key.read_credential("corp").unwrap().password, PASSWORD);

    assert!(matches!(
        key.verify_pin("0"),
        Err(KeyError::WrongPin { .. })
    ));
    assert!(matches!(
        key.verify_pin("0"),
        Err(KeyError::WrongPin { .. })
    ));
    let identity = key.public_key().unwrap();
    // The last wrong PIN wipes the key, as real keys do: credentials, link, PIN and identity.
    assert_eq!(key.verify_pin("0"), Err(KeyError::WipedAfterWrongPins));
    let status = key.status().unwrap();
    assert!(!status.locked && !status.pin_set && !status.linked);
    assert_eq!(status.free_slots, status.slots);
    assert_eq!(status.pin_attempts_left, 3);
    assert_eq!(
        key.read_credential("corp"),
        Err(KeyError::NoSuchCredential("corp".into()))
    );
    assert_ne!(
        key.public_key().unwrap(),
        identity,
        "a wiped key has a new identity"
    );
}

#[test]
fn a_set_pin_guards_the_credentials_and_changing_it_needs_the_old_one() {
    let mut key = linked(4);
    key.write_credential(&cred("corp", PASSWORD)).unwrap();
    // No PIN yet: the credentials are open.
    assert_eq!(key.read_credential("corp").unwrap().password, PASSWORD);
    assert!(matches!(key.set_pin("12"), Err(KeyError::InvalidInput(_))));
    key.set_pin("2468").unwrap();
    assert!(key.status().unwrap().pin_set);
    // Setting it leaves the session unlocked.
    assert_eq!(key.read_credential("corp").unwrap().password, PASSWORD);
    let _ = key.verify_pin("0000");
    assert_eq!(key.set_pin("1357"), Err(KeyError::PinRequired));
    key.verify_pin("2468").unwrap();
    key.set_pin("1357").unwrap();
    assert!(matches!(
        key.verify_pin("2468"),
        Err(KeyError::WrongPin { .. })
    ));
    key.verify_pin("1357").unwrap();
}

#[test]
fn link_twice_is_refused_until_wiped() {
    let mut key = EmulatedKey::in_memory(config(2)).unwrap();
    key.link(CODE).unwrap();
    assert!(key.status().unwrap().linked);
    assert!(key.is_linked_with(CODE));
    assert!(!key.is_linked_with("000000"));
    assert_eq!(key.link("111111"), Err(KeyError::AlreadyLinked));
    assert_eq!(key.link(CODE), Err(KeyError::AlreadyLinked));
    assert!(
        key.is_linked_with(CODE),
        "a refused link keeps the first one"
    );
    key.wipe().unwrap();
    assert!(!key.status().unwrap().linked);
    key.link("111111").unwrap();
    assert!(key.is_linked_with("111111"));
    assert!(matches!(key.link(""), Err(KeyError::AlreadyLinked)));
}

#[test]
fn an_empty_activation_code_is_refused() {
    let mut key = EmulatedKey::in_memory(config(2)).unwrap();
    assert!(matches!(key.link(""), Err(KeyError::InvalidInput(_))));
    assert!(!key.status().unwrap().linked);
}

#[test]
fn wipe_returns_to_factory_state() {
    let mut fresh = EmulatedKey::in_memory(config(4)).unwrap();
    let factory = fresh.status().unwrap();

    let mut key = EmulatedKey::in_memory(config(4)).unwrap();
    key.link(CODE).unwrap();
    key.set_pin("2468").unwrap();
    key.write_credential(&cred("a", "pw-a")).unwrap();
    key.write_credential(&cred("b", "pw-b")).unwrap();
    let _ = key.verify_pin("0000");
    assert_ne!(key.status().unwrap(), factory);

    key.wipe().unwrap();
    assert_eq!(key.status().unwrap(), factory);
    assert_eq!(key.serial(), "EMU-0001");
    assert!(!key.is_linked_with(CODE));
    // No PIN any more, so the credentials are open: and there are none.
    assert_eq!(
        key.read_credential("a"),
        Err(KeyError::NoSuchCredential("a".into()))
    );
}

#[test]
fn persistence_round_trip_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    {
        let mut key = EmulatedKey::create(&path, &STORAGE_KEY, config(5)).unwrap();
        assert_eq!(key.path(), Some(path.as_path()));
        key.link(CODE).unwrap();
        key.write_credential(&cred("corp", "first")).unwrap();
        key.write_credential(&cred("lab", "second")).unwrap();
        key.write_credential(&cred("corp", PASSWORD)).unwrap();
        key.delete_credential("lab").unwrap();
        key.set_pin("2468").unwrap();
        assert_eq!(
            key.verify_pin("0000"),
            Err(KeyError::WrongPin { attempts_left: 2 })
        );
    }
    let mut key = EmulatedKey::open(&path, &STORAGE_KEY).unwrap();
    let status = key.status().unwrap();
    assert_eq!(status.serial, "EMU-0001");
    assert_eq!(status.slots, 5);
    assert_eq!(status.free_slots, 4);
    assert!(status.linked && status.pin_set);
    // The wrong-PIN counter survives: reopening is no way around it.
    assert_eq!(status.pin_attempts_left, 2);
    assert!(key.is_linked_with(CODE));
    // A new session needs the PIN again.
    assert_eq!(key.read_credential("corp"), Err(KeyError::PinRequired));
    key.verify_pin("2468").unwrap();
    let corp = key.read_credential("corp").unwrap();
    assert_eq!(corp.login, "CORP\\corp");
    assert_eq!(corp.password, PASSWORD);
    assert_eq!(
        key.read_credential("lab"),
        Err(KeyError::NoSuchCredential("lab".into()))
    );

    // open_or_create opens (and ignores the config) when the file exists.
    drop(key);
    let mut again = EmulatedKey::open_or_create(&path, &STORAGE_KEY, config(9)).unwrap();
    assert_eq!(again.status().unwrap().slots, 5);
    assert_eq!(again.status().unwrap().pin_attempts_left, 3);
}

#[test]
fn open_or_create_creates_a_missing_file_and_create_refuses_an_existing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    let mut key = EmulatedKey::open_or_create(&path, &STORAGE_KEY, config(7)).unwrap();
    assert_eq!(key.status().unwrap().slots, 7);
    assert!(path.exists());
    assert!(matches!(
        EmulatedKey::create(&path, &STORAGE_KEY, config(7)),
        Err(StoreError::AlreadyExists(_))
    ));
}

#[test]
fn wipe_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    let mut key = EmulatedKey::create(&path, &STORAGE_KEY, config(3)).unwrap();
    key.link(CODE).unwrap();
    key.write_credential(&cred("corp", PASSWORD)).unwrap();
    key.wipe().unwrap();
    drop(key);
    let mut key = EmulatedKey::open(&path, &STORAGE_KEY).unwrap();
    let status = key.status().unwrap();
    assert!(!status.linked);
    assert_eq!(status.free_slots, 3);
}

#[test]
fn reopening_with_the_wrong_key_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    EmulatedKey::create(&path, &STORAGE_KEY, config(3)).unwrap();
    let err = EmulatedKey::open(&path, &[0x43; 32]).unwrap_err();
    assert!(matches!(err, StoreError::WrongKey(_)), "{err:?}");
    assert!(err.to_string().contains("wrong storage key"), "{err}");
    // The right key still opens it: the failed attempt changed nothing.
    EmulatedKey::open(&path, &STORAGE_KEY).unwrap();
}

#[test]
fn a_corrupted_or_truncated_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    let mut key = EmulatedKey::create(&path, &STORAGE_KEY, config(3)).unwrap();
    key.link(CODE).unwrap();
    key.write_credential(&cred("corp", PASSWORD)).unwrap();
    drop(key);
    let good = std::fs::read(&path).unwrap();

    flip_byte(&path, 5);
    let err = EmulatedKey::open(&path, &STORAGE_KEY).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("corrupted"), "{err}");

    std::fs::write(&path, &good[..good.len() - 1]).unwrap();
    assert!(matches!(
        EmulatedKey::open(&path, &STORAGE_KEY),
        Err(StoreError::Corrupt { .. })
    ));

    std::fs::write(&path, &good[..20]).unwrap();
    let err = EmulatedKey::open(&path, &STORAGE_KEY).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");

    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        EmulatedKey::open(&path, &STORAGE_KEY),
        Err(StoreError::Corrupt { .. })
    ));

    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        EmulatedKey::open(&path, &STORAGE_KEY),
        Err(StoreError::Io { .. })
    ));
}

#[test]
fn the_file_on_disk_holds_no_secret_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    let mut key = EmulatedKey::create(&path, &STORAGE_KEY, config(3)).unwrap();
    key.link(CODE).unwrap();
    key.set_pin("24681357").unwrap();
    key.write_credential(&cred("corp", PASSWORD)).unwrap();
    // The password really is on the key...
    assert_eq!(
        EmulatedKey::open(&path, &STORAGE_KEY)
            .map(|mut k| {
                k.verify_pin("24681357").unwrap();
                k.read_credential("corp").unwrap().password.clone()
            })
            .unwrap(),
        PASSWORD
    );
    // ...but not readable in the file.
    let bytes = std::fs::read(&path).unwrap();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(PASSWORD.as_bytes()));
    assert!(!contains(b"CORP\\corp"));
    assert!(!contains(CODE.as_bytes()));
    assert!(!contains(b"24681357"));
    assert!(!contains(b"EMU-0001"));
}

#[cfg(unix)]
#[test]
fn the_file_is_private_and_no_temporary_file_is_left() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    let mut key = EmulatedKey::create(&path, &STORAGE_KEY, config(3)).unwrap();
    key.link(CODE).unwrap();
    key.write_credential(&cred("corp", PASSWORD)).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("key.emu")]);
}

#[test]
fn a_failed_save_leaves_the_key_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("key.emu");
    let mut key = EmulatedKey::create(&path, &STORAGE_KEY, config(3)).unwrap();
    key.link(CODE).unwrap();
    key.write_credential(&cred("corp", "old-password")).unwrap();
    // Take the folder away: the next save cannot happen (even as root).
    std::fs::remove_dir_all(&sub).unwrap();

    let err = key.write_credential(&cred("corp", PASSWORD)).unwrap_err();
    assert!(matches!(err, KeyError::Device(_)), "{err:?}");
    assert!(!err.to_string().contains(PASSWORD), "{err}");
    assert_eq!(
        key.read_credential("corp").unwrap().password,
        "old-password"
    );
    assert!(matches!(key.wipe(), Err(KeyError::Device(_))));
    assert!(key.status().unwrap().linked);
}

#[test]
fn offline_every_call_fails_with_not_connected() {
    let mut key = linked(3);
    key.write_credential(&cred("corp", PASSWORD)).unwrap();
    let faults = key.faults();
    let mut device: Box<dyn KeyDevice> = Box::new(key);

    faults.set_offline(true);
    assert!(faults.is_offline());
    assert_eq!(device.status(), Err(KeyError::NotConnected));
    assert_eq!(device.verify_pin("1234"), Err(KeyError::NotConnected));
    assert_eq!(device.link("111111"), Err(KeyError::NotConnected));
    assert_eq!(
        device.write_credential(&cred("corp", "new")),
        Err(KeyError::NotConnected)
    );
    assert_eq!(device.read_credential("corp"), Err(KeyError::NotConnected));
    assert_eq!(
        device.delete_credential("corp"),
        Err(KeyError::NotConnected)
    );
    assert_eq!(device.wipe(), Err(KeyError::NotConnected));
    // The serial comes from discovery and stays known.
    assert_eq!(device.serial(), "EMU-0001");

    faults.set_offline(false);
    // Nothing of the above reached the key.
    assert_eq!(device.read_credential("corp").unwrap().password, PASSWORD);
    assert!(device.status().unwrap().linked);
}

#[test]
fn fail_next_write_fails_once_and_applies_nothing() {
    let mut key = linked(3);
    key.write_credential(&cred("corp", "old-password")).unwrap();
    key.fail_next_write();
    let err = key.write_credential(&cred("corp", PASSWORD)).unwrap_err();
    assert!(matches!(err, KeyError::Transport(_)), "{err:?}");
    assert_eq!(
        key.read_credential("corp").unwrap().password,
        "old-password"
    );
    key.write_credential(&cred("corp", PASSWORD)).unwrap();
    assert_eq!(key.read_credential("corp").unwrap().password, PASSWORD);
}

#[test]
fn offline_calls_do_not_consume_a_pending_fault() {
    let mut key = linked(3);
    key.fail_next_write();
    key.set_offline(true);
    assert_eq!(
        key.write_credential(&cred("corp", PASSWORD)),
        Err(KeyError::NotConnected)
    );
    key.set_offline(false);
    assert!(matches!(
        key.write_credential(&cred("corp", PASSWORD)),
        Err(KeyError::Transport(_))
    ));
    key.write_credential(&cred("corp", PASSWORD)).unwrap();
}

#[test]
fn a_lost_write_acknowledgement_still_lands_on_the_key() {
    let mut key = linked(3);
    key.inject(Fault::LoseNextWriteAck);
    assert!(matches!(
        key.write_credential(&cred("corp", PASSWORD)),
        Err(KeyError::Transport(_))
    ));
    assert_eq!(key.read_credential("corp").unwrap().password, PASSWORD);
}

#[test]
fn other_one_shot_faults_fail_once_without_effect() {
    let mut key = linked(3);
    key.write_credential(&cred("corp", PASSWORD)).unwrap();
    let faults = key.faults();

    faults.inject(Fault::FailNextRead);
    assert!(matches!(
        key.read_credential("corp"),
        Err(KeyError::Transport(_))
    ));
    faults.inject(Fault::FailNextDelete);
    assert!(matches!(
        key.delete_credential("corp"),
        Err(KeyError::Transport(_))
    ));
    assert_eq!(key.read_credential("corp").unwrap().password, PASSWORD);
    faults.inject(Fault::FailNextWipe);
    assert!(matches!(key.wipe(), Err(KeyError::Transport(_))));
    assert!(key.status().unwrap().linked);

    let mut fresh = EmulatedKey::in_memory(config(1)).unwrap();
    fresh.inject(Fault::FailNextLink);
    assert!(matches!(fresh.link(CODE), Err(KeyError::Transport(_))));
    assert!(!fresh.status().unwrap().linked);
    fresh.link(CODE).unwrap();

    faults.inject(Fault::FailNextWrite);
    faults.clear();
    key.write_credential(&cred("corp", "after-clear")).unwrap();
}

#[test]
fn errors_and_debug_never_show_the_password() {
    let mut key = linked(1);
    key.write_credential(&cred("corp", PASSWORD)).unwrap();
    let full = key.write_credential(&cred("other", PASSWORD)).unwrap_err();
    assert_eq!(full, KeyError::NoFreeSlot);
    for text in [
        full.to_string(),
        format!("{full:?}"),
        format!("{key:?}"),
        format!("{:?}", key.read_credential("corp").unwrap()),
    ] {
        assert!(!text.contains(PASSWORD), "{text}");
    }
}

#[test]
fn the_identity_survives_reopening_and_signs_with_the_user_verified_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    let mut key = EmulatedKey::create(&path, &[3; 32], config(4)).unwrap();
    let pk = key.public_key().unwrap();
    drop(key);
    let mut key = EmulatedKey::open(&path, &[3; 32]).unwrap();
    assert_eq!(
        key.public_key().unwrap(),
        pk,
        "the identity is kept in the sealed file"
    );
    // The private half is not in the file in clear (nor is anything that looks like it).
    let raw = std::fs::read(&path).unwrap();
    assert!(!raw.windows(pk.len()).any(|w| w == pk.as_slice()));

    let request = b"request bytes";
    // Without a PIN on the key, a signature cannot claim a verified user.
    assert!(matches!(
        key.sign_request(request, Some("2468")),
        Err(KeyError::InvalidInput(_))
    ));
    let plain = key.sign_request(request, None).unwrap();
    assert!(!plain.user_verified);
    assert!(key_protocol::verify(
        &pk,
        &key_protocol::key_message(request, false),
        &plain.signature
    ));
    key.set_pin("2468").unwrap();
    let verified = key.sign_request(request, Some("2468")).unwrap();
    assert!(verified.user_verified);
    assert!(key_protocol::verify(
        &pk,
        &key_protocol::key_message(request, true),
        &verified.signature
    ));
    // A wrong PIN signs nothing and costs an attempt.
    assert_eq!(
        key.sign_request(request, Some("0000")),
        Err(KeyError::WrongPin { attempts_left: 2 })
    );
}

#[test]
fn a_sealed_password_opens_only_in_its_key_and_for_its_task() {
    let mut key = linked(4);
    let pk = key.public_key().unwrap();
    let aad = key_protocol::password_aad(&key.serial(), "task-1");
    let sealed = key_protocol::seal(&pk, PASSWORD.as_bytes(), &aad).unwrap();
    // Another task's associated data: refused, nothing written.
    assert!(matches!(
        key.write_sealed_credential("task-2", "corp", "CORP\\ada", &sealed),
        Err(KeyError::InvalidInput(_))
    ));
    assert_eq!(key.status().unwrap().free_slots, 4);
    // Sealed to another key: refused.
    let mut stranger = linked(4);
    assert!(matches!(
        stranger.write_sealed_credential("task-1", "corp", "CORP\\ada", &sealed),
        Err(KeyError::InvalidInput(_))
    ));
    let proof = key
        .write_sealed_credential("task-1", "corp", "CORP\\ada", &sealed)
        .unwrap();
    assert_eq!(key.read_credential("corp").unwrap().password, PASSWORD);
    // The proof is made from the stored password, for this key, task and name.
    assert!(key_protocol::check_stored_proof(
        &proof,
        PASSWORD.as_bytes(),
        &key.serial(),
        "task-1",
        "corp"
    ));
}

/// A key with a PIN that was not verified stores nothing, and so has no proof to give: the
/// stolen-key case (the server never takes a password as stored without the proof).
#[test]
fn a_locked_session_stores_nothing_and_proves_nothing() {
    let mut key = linked(4);
    key.set_pin("2468").unwrap();
    let pk = key.public_key().unwrap();
    let aad = key_protocol::password_aad(&key.serial(), "task-1");
    let sealed = key_protocol::seal(&pk, PASSWORD.as_bytes(), &aad).unwrap();
    // The thief's session: the same key, reopened, the PIN never given.
    let dir = tempfile::tempdir().unwrap();
    let path = key_file(&dir);
    let mut saved = EmulatedKey::create(&path, &[5; 32], config(4)).unwrap();
    saved.link("123456").unwrap();
    saved.set_pin("2468").unwrap();
    drop(saved);
    let mut thief = EmulatedKey::open(&path, &[5; 32]).unwrap();
    let pk2 = thief.public_key().unwrap();
    let aad2 = key_protocol::password_aad(&thief.serial(), "task-1");
    let sealed2 = key_protocol::seal(&pk2, PASSWORD.as_bytes(), &aad2).unwrap();
    assert_eq!(
        thief.write_sealed_credential("task-1", "corp", "CORP\\ada", &sealed2),
        Err(KeyError::PinRequired)
    );
    assert_eq!(thief.status().unwrap().free_slots, 4);
    thief.verify_pin("2468").unwrap();
    assert!(thief
        .write_sealed_credential("task-1", "corp", "CORP\\ada", &sealed2)
        .is_ok());
    drop((key, sealed));
}

/// The factory identity: provisioned once by a vendor CA, kept across a wipe (it is the
/// hardware's), and it attests each new identity for this serial only.
#[test]
fn the_factory_identity_attests_each_identity_and_survives_a_wipe() {
    let vendor = key_bridge::VendorCa::generate("Test Vendor").unwrap();
    let mut key = linked(4);
    assert_eq!(key.attest_identity(), Err(KeyError::NotProvisioned));
    let line = key.provision(&vendor, "Hideez Key 4").unwrap();
    assert!(
        line.starts_with(&format!("{},Hideez Key 4,", key.serial())),
        "{line}"
    );
    assert!(matches!(
        key.provision(&vendor, "Hideez Key 4"),
        Err(KeyError::InvalidInput(_))
    ));
    let cert = key.attestation_certificate().unwrap();
    assert!(line.ends_with(&key_protocol::b64(&cert)));
    let attest = |key: &mut EmulatedKey| {
        let identity = key.public_key().unwrap();
        (identity.clone(), key.attest_identity().unwrap())
    };
    let (first, sig) = attest(&mut key);
    key.wipe().unwrap();
    let (second, sig2) = attest(&mut key);
    assert_ne!(first, second, "a wipe makes a new identity");
    assert_eq!(
        key.attestation_certificate().unwrap(),
        cert,
        "the factory identity stays"
    );
    // Both attestations verify with the same factory key, each for its own identity.
    let factory = factory_key(&cert);
    let serial = key.serial();
    assert!(key_protocol::verify(
        &factory,
        &key_protocol::identity_statement(&serial, &first),
        &sig
    ));
    assert!(key_protocol::verify(
        &factory,
        &key_protocol::identity_statement(&serial, &second),
        &sig2
    ));
    assert!(!key_protocol::verify(
        &factory,
        &key_protocol::identity_statement(&serial, &first),
        &sig2
    ));
    assert!(!key_protocol::verify(
        &factory,
        &key_protocol::identity_statement("OTHER", &second),
        &sig2
    ));
}

/// The subject public key of a certificate: the 65-byte uncompressed point near its end of the
/// SubjectPublicKeyInfo (found by its prefix; enough for a test).
fn factory_key(cert: &[u8]) -> Vec<u8> {
    // id-ecPublicKey + prime256v1, then BIT STRING (66 bytes: unused-bits byte + point).
    let marker = [0x03, 0x42, 0x00, 0x04];
    let at = cert
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("a P-256 point");
    cert[at + 3..at + 3 + 65].to_vec()
}
