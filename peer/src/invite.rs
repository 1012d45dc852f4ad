//! Invites (PROTOCOL.md §8.1): `p2p-chat://<host>:<port>/<key>`, the key being the static public
//! key in base64url without padding. Whoever connects with an invite refuses any other key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use crypto_core::PublicKey;

/// The scheme prefix.
pub const SCHEME: &str = "p2p-chat://";

/// A parsed invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// IPv4 address, DNS name, or IPv6 address (without brackets).
    pub host: String,
    /// P2P port.
    pub port: u16,
    /// The static key the peer must answer with.
    pub key: PublicKey,
}

impl Invite {
    /// The invite string.
    pub fn to_uri(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "{SCHEME}{host}:{}/{}",
            self.port,
            URL_SAFE_NO_PAD.encode(self.key.as_bytes())
        )
    }

    /// Parses an invite string; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Invite, InviteParseError> {
        use InviteParseError as E;
        let rest = text.trim().strip_prefix(SCHEME).ok_or(E::Scheme)?;
        let (authority, key) = rest.split_once('/').ok_or(E::NoKey)?;
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            v6.split_once("]:").ok_or(E::BadIpv6)?
        } else {
            authority.rsplit_once(':').ok_or(E::NoPort)?
        };
        let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or(E::BadPort)?;
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(E::BadHost);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(key.trim_end_matches('/'))
            .map_err(|_| E::KeyNotBase64)?;
        let key = PublicKey::from_slice(&bytes).map_err(|_| E::KeyNotPublicKey)?;
        Ok(Invite {
            host: host.to_owned(),
            port,
            key,
        })
    }
}

/// What is wrong with an invite string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InviteParseError {
    /// Not `p2p-chat://…`.
    #[error("an invite starts with {SCHEME}")]
    Scheme,
    /// No `/key` after the address.
    #[error("the invite has no key after the address")]
    NoKey,
    /// `[` without `]:port`.
    #[error("bad [IPv6]:port in the invite")]
    BadIpv6,
    /// No `:port`.
    #[error("the invite has no port")]
    NoPort,
    /// Port 0 or not a number.
    #[error("the invite's port must be 1-65535")]
    BadPort,
    /// Empty host or one with whitespace or `/`.
    #[error("the invite has no usable host")]
    BadHost,
    /// The key is not base64url.
    #[error("the invite's key is not base64url")]
    KeyNotBase64,
    /// The key has the wrong length.
    #[error("the invite's key is not a 32-byte public key")]
    KeyNotPublicKey,
}

/// The invite could not be drawn as a QR code (it is too long).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the invite as a QR code: {0}")]
pub struct QrError(#[from] qrcode::types::QrError);

/// The invite as a QR code, an SVG document.
pub fn qr_svg(text: &str) -> Result<String, QrError> {
    let code = qrcode::QrCode::new(text.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let key = *crypto_core::Identity::generate().public_key();
        for host in ["127.0.0.1", "example.org", "::1"] {
            let invite = Invite {
                host: host.into(),
                port: 6000,
                key,
            };
            let uri = invite.to_uri();
            assert_eq!(uri.rsplit('/').next().unwrap().len(), 43);
            assert_eq!(Invite::parse(&uri).unwrap(), invite);
        }
        for bad in [
            "http://x:1/abc",
            "p2p-chat://x/abc",
            "p2p-chat://x:0/AAAA",
            "p2p-chat://x:1/!!",
            "p2p-chat://x:1/AAAA",
        ] {
            assert!(Invite::parse(bad).is_err(), "{bad}");
        }
        let svg = qr_svg("p2p-chat://127.0.0.1:6000/x").unwrap();
        assert!(svg.contains("<svg"), "{svg}");
    }
}
