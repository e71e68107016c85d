//! Enrolment: a single-use, short-lived secret bound to one employee, shown as a QR code
//! (`hideez-auth://register?...`); the phone registers its device key with it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq as _;
use utoipa::ToSchema;
use uuid::Uuid;

use super::wire;
use super::Phones;
use crate::audit::{self, Actor, Target};
use crate::crypto::{random_bytes, token_hash};
use crate::employees::State as EmployeeState;
use crate::error::{Error, Result};
use crate::push::store::{DeviceRow, EnrolmentRow};

/// How long a QR code can be scanned.
pub const ENROLMENT_TTL_MS: i64 = 10 * 60_000;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EnrolmentCreated {
    pub enrolment_id: String,
    /// The registration link the QR code holds (contains the one-time secret).
    pub link: String,
    /// The QR code as SVG.
    pub qr_svg: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The QR code as a PNG (8 pixels a module, with the quiet zone).
pub fn qr_png(link: &str) -> Result<Vec<u8>> {
    let code = qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Error::Internal(format!("QR code: {e}")))?;
    let modules = code.width();
    let colors = code.to_colors();
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                let row = y * side;
                for x in mx * SCALE..(mx + 1) * SCALE {
                    if let Some(p) = pixels.get_mut(row + x) {
                        *p = 0;
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let side = u32::try_from(side).map_err(|_| Error::Internal("QR too large".into()))?;
        let mut enc = png::Encoder::new(&mut out, side, side);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| Error::Internal(format!("PNG: {e}")))?;
        w.write_image_data(&pixels)
            .map_err(|e| Error::Internal(format!("PNG: {e}")))?;
    }
    Ok(out)
}

pub fn qr_svg(link: &str) -> Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| Error::Internal(format!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// A new enrolment for an active employee (from an invitation's page, or an admin's request).
pub async fn create(
    state: &Phones,
    actor: &Actor,
    employee_id: &str,
    invitation_id: Option<&str>,
) -> Result<EnrolmentCreated> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin().await?;
    let employee = crate::employees::store::get(&mut tx, employee_id)
        .await?
        .ok_or(Error::NotFound("employee"))?;
    if employee.state != EmployeeState::Active.as_str() {
        return Err(Error::conflict(
            None,
            "only active employees can enrol a phone",
        ));
    }
    let secret = random_bytes::<32>()?;
    let secret_text = wire::b64(&secret);
    let id = Uuid::new_v4().to_string();
    let row = EnrolmentRow {
        id: id.clone(),
        employee_id: employee_id.to_owned(),
        secret_hash: token_hash(&secret_text),
        created_at: now,
        expires_at: now + ENROLMENT_TTL_MS,
        used_at: None,
        device_id: None,
        invitation_id: invitation_id.map(str::to_owned),
    };
    crate::push::store::insert_enrolment(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        now,
        actor,
        "employee.enrolment_created",
        Some(Target::of("employee", employee_id)),
        json!({ "enrolment": id }),
    )
    .await?;
    tx.commit().await?;
    let exp = row.expires_at / 1000;
    let mut link =
        url::Url::parse("hideez-auth://register").map_err(|e| Error::Internal(e.to_string()))?;
    link.query_pairs_mut()
        .append_pair("v", "1")
        .append_pair("server", &format!("{}/", state.config.issuer()))
        .append_pair("id", &id)
        .append_pair("secret", &secret_text)
        .append_pair("exp", &exp.to_string());
    let link = link.to_string();
    Ok(EnrolmentCreated {
        enrolment_id: id,
        qr_svg: qr_svg(&link)?,
        link,
        expires_at: exp,
    })
}

/// The registration request (docs/phone-protocol.md, section 1).
#[derive(Debug, Deserialize)]
pub struct RegisterBody {
    pub id: String,
    pub secret: String,
    pub device_public_key: String,
    pub key_proof: String,
    pub device_name: String,
    #[serde(default)]
    pub push_token: Option<String>,
    pub platform: String,
}

#[derive(Debug, Serialize)]
pub struct RegisterAnswer {
    pub device_id: String,
    pub server_public_key: String,
    pub account_name: String,
    /// The offline-code secret and its parameters (sent once, here).
    pub totp: super::totp::TotpParams,
}

fn bad(field: &str, message: &str) -> Error {
    Error::validation(field, message)
}

/// Registers a device. Every failure about the enrolment itself answers alike (no oracle).
pub async fn register(state: &Phones, body: RegisterBody) -> Result<RegisterAnswer> {
    let now = state.clock.now_ms();
    let name = body.device_name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(bad(
            "device_name",
            "1 to 64 characters, no control characters",
        ));
    }
    if !matches!(body.platform.as_str(), "ios" | "android" | "other") {
        return Err(bad("platform", "must be ios, android or other"));
    }
    if body
        .push_token
        .as_ref()
        .is_some_and(|t| t.is_empty() || t.len() > 4096)
    {
        return Err(bad("push_token", "1 to 4096 characters when present"));
    }
    let pk = wire::unb64(&body.device_public_key)
        .filter(|pk| wire::valid_p256_point(pk))
        .ok_or_else(|| {
            bad(
                "device_public_key",
                "must be an uncompressed P-256 point, base64url",
            )
        })?;
    let proof =
        wire::unb64(&body.key_proof).ok_or_else(|| bad("key_proof", "must be base64url"))?;
    if !wire::verify_es256(&pk, &wire::key_proof_message(&body.id, &pk), &proof) {
        return Err(bad("key_proof", "does not verify with device_public_key"));
    }
    let refused = || {
        Error::Forbidden(
            "this registration code is not valid (used, expired or unknown); ask for a new one"
                .into(),
        )
    };
    let mut tx = state.store.begin().await?;
    let Some(enrolment) = crate::push::store::get_enrolment(&mut tx, &body.id).await? else {
        return Err(refused());
    };
    let matches: bool = token_hash(&body.secret)
        .ct_eq(&enrolment.secret_hash)
        .into();
    if !matches || enrolment.used_at.is_some() || enrolment.expires_at <= now {
        return Err(refused());
    }
    // An enrolment that came with an invitation dies with it: a revoked (or replaced) invitation's
    // QR code registers nothing.
    if let Some(inv) = &enrolment.invitation_id {
        let live = crate::enrol::store::get(&mut tx, inv)
            .await?
            .is_some_and(|i| i.shown(now) == crate::enrol::state::Shown::Usable);
        if !live {
            return Err(refused());
        }
    }
    let employee = crate::employees::store::get(&mut tx, &enrolment.employee_id)
        .await?
        .filter(|e| e.state == EmployeeState::Active.as_str())
        .ok_or_else(refused)?;
    let device_id = Uuid::new_v4().to_string();
    if !crate::push::store::use_enrolment(&mut tx, &enrolment.id, &device_id, now).await? {
        return Err(refused());
    }
    if let Some(inv) = &enrolment.invitation_id {
        crate::enrol::store::advance(&mut tx, inv, crate::enrol::state::Event::Accept, now).await?;
    }
    // One phone per employee: a new registration replaces (revokes) the old device.
    let replaced = crate::push::store::revoke_devices_of(&mut tx, &employee.id, None, now).await?;
    crate::push::store::insert_device(
        &mut tx,
        &DeviceRow {
            id: device_id.clone(),
            employee_id: employee.id.clone(),
            public_key: pk,
            name: name.to_owned(),
            platform: body.platform.clone(),
            push_token: body.push_token.clone(),
            state: "active".into(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        },
    )
    .await?;
    let totp = super::totp::provision(state, &mut tx, &device_id).await?;
    audit::record(
        &mut tx,
        now,
        &Actor::System { name: "phone registration".into() },
        "employee.device_registered",
        Some(Target::of("employee", &employee.id)),
        json!({ "device": device_id, "name": name, "platform": body.platform, "replaced": replaced }),
    )
    .await?;
    tx.commit().await?;
    crate::login::step_up::notify(
        &state.mailer,
        state.config.default_language,
        &employee,
        &state.config.default_language.t1(
            if replaced > 0 {
                "mail-notice-phone-replaced"
            } else {
                "mail-notice-phone-registered"
            },
            "name",
            name,
        ),
    )
    .await;
    let server_public_key = wire::b64(
        &state
            .push
            .key
            .public_key(&state.store, &state.cipher, now)
            .await?,
    );
    Ok(RegisterAnswer {
        device_id,
        server_public_key,
        account_name: employee
            .email
            .clone()
            .unwrap_or_else(|| employee.display_name.clone())
            .chars()
            .take(256)
            .collect(),
        totp,
    })
}
