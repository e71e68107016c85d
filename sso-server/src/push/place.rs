//! Where a sign-in comes from, in words the employee can judge on the phone: "Berlin, Germany"
//! from a MaxMind-format GeoIP database (GeoLite2 / GeoIP2 City or Country, or DB-IP's free
//! databases in the same format) when one is configured, else the kind of network.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{geoip2, Reader};

use crate::error::{Error, Result};

pub struct Places {
    reader: Option<Reader<Vec<u8>>>,
}

impl std::fmt::Debug for Places {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Places")
            .field(
                "geoip",
                &self.reader.as_ref().map(|r| &r.metadata().database_type),
            )
            .finish()
    }
}

impl Places {
    /// Without a database: only the kind of network.
    pub fn none() -> Self {
        Self { reader: None }
    }

    /// Opens the database at `path` (read into memory once; a City database is ~70 MB).
    pub fn open(path: &Path) -> Result<Self> {
        let reader = Reader::open_readfile(path).map_err(|e| {
            Error::Config(format!(
                "invalid configuration: key `push.geoip_database`: cannot open {} as a MaxMind \
                 database: {e}",
                path.display()
            ))
        })?;
        tracing::info!(path = %path.display(), kind = %reader.metadata().database_type, "GeoIP database loaded");
        Ok(Self {
            reader: Some(reader),
        })
    }

    /// "City, Country", "Country", or the kind of network ("this computer", "company network",
    /// "internet"); empty for something that is not an address. (The phone shows this text.)
    pub fn describe(&self, ip: &str) -> String {
        self.locate(ip)
            .map(|w| w.kind().to_owned())
            .unwrap_or_default()
    }

    /// Where an address is, for pages that put the kinds of network in their own language.
    pub fn locate(&self, ip: &str) -> Option<Where> {
        let addr = ip.parse::<IpAddr>().ok()?;
        Some(match local_kind(addr) {
            Some("this computer") => Where::ThisComputer,
            Some(_) => Where::CompanyNetwork,
            None => self.lookup(addr).map_or(Where::Internet, Where::Named),
        })
    }

    fn lookup(&self, addr: IpAddr) -> Option<String> {
        let reader = self.reader.as_ref()?;
        // A City record is a superset of a Country record; decoding as City reads both kinds.
        let city: geoip2::City = reader.lookup(addr).ok()?.decode().ok()??;
        let country = city.country.names.english;
        let town = city.city.names.english;
        match (town, country) {
            (Some(t), Some(c)) => Some(format!("{t}, {c}")),
            (None, Some(c)) => Some(c.to_owned()),
            (Some(t), None) => Some(t.to_owned()),
            (None, None) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Where {
    ThisComputer,
    CompanyNetwork,
    /// On the internet, but the GeoIP database (if any) knows no more.
    Internet,
    /// "City, Country" or "Country", from the GeoIP database.
    Named(String),
}

impl Where {
    fn kind(&self) -> &str {
        match self {
            Self::ThisComputer => "this computer",
            Self::CompanyNetwork => "company network",
            Self::Internet => "internet",
            Self::Named(n) => n,
        }
    }
}

fn local_kind(addr: IpAddr) -> Option<&'static str> {
    match addr {
        a if a.is_loopback() => Some("this computer"),
        IpAddr::V4(v4) if v4.is_private() || v4.is_link_local() => Some("company network"),
        IpAddr::V6(v6) if (v6.segments()[0] & 0xfe00) == 0xfc00 => Some("company network"),
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .and_then(|v4| local_kind(IpAddr::V4(v4))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_network_without_a_database() {
        let p = Places::none();
        assert_eq!(p.describe("127.0.0.1"), "this computer");
        assert_eq!(p.describe("::1"), "this computer");
        assert_eq!(p.describe("10.1.2.3"), "company network");
        assert_eq!(p.describe("fd00::1"), "company network");
        assert_eq!(p.describe("::ffff:192.168.1.5"), "company network");
        assert_eq!(p.describe("203.0.113.9"), "internet");
        assert_eq!(p.describe("not an address"), "");
    }
}
