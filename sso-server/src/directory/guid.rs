//! objectGUID: 16 bytes on the wire, whose first three fields are little-endian (Microsoft's GUID
//! layout), shown as the usual text form. The stable key of a directory account.

use uuid::Uuid;

/// The text form AD tools show (`Get-ADUser`, `ldp`), from the raw attribute bytes.
pub fn from_ad_bytes(bytes: &[u8]) -> Option<Uuid> {
    let arr: [u8; 16] = bytes.try_into().ok()?;
    Some(Uuid::from_bytes_le(arr))
}

/// The raw attribute bytes of a GUID, byte-exact.
pub fn to_ad_bytes(guid: &Uuid) -> [u8; 16] {
    guid.to_bytes_le()
}

/// An LDAP filter value matching the GUID's raw bytes: `\33\22\11…` (RFC 4515 escapes).
pub fn filter_value(guid: &Uuid) -> String {
    to_ad_bytes(guid)
        .iter()
        .map(|b| format!("\\{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vector: the bytes a DC sends for the GUID shown as 00112233-4455-6677-8899-aabbccddeeff.
    const WIRE: [u8; 16] = [
        0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ];

    #[test]
    fn mixed_endian_text_form() {
        let g = from_ad_bytes(&WIRE).unwrap();
        assert_eq!(g.to_string(), "00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(to_ad_bytes(&g), WIRE);
    }

    #[test]
    fn round_trips_byte_exact() {
        // Every byte value in every position survives bytes -> text -> bytes.
        for start in 0u8..=255 {
            let bytes: [u8; 16] =
                std::array::from_fn(|i| start.wrapping_add((i as u8).wrapping_mul(17)));
            let g = from_ad_bytes(&bytes).unwrap();
            let parsed = Uuid::parse_str(&g.to_string()).unwrap();
            assert_eq!(to_ad_bytes(&parsed), bytes);
        }
    }

    #[test]
    fn filter_escapes_every_byte() {
        let g = from_ad_bytes(&WIRE).unwrap();
        assert_eq!(
            filter_value(&g),
            "\\33\\22\\11\\00\\55\\44\\77\\66\\88\\99\\aa\\bb\\cc\\dd\\ee\\ff"
        );
        assert!(from_ad_bytes(&WIRE[..15]).is_none());
    }
}
