//! The DNS-SD records a peer announces on its LAN and how announcements are read back
//! (PROTOCOL.md §8.9): the service `_p2p-chat._tcp.local`, one instance per peer named by its
//! key in base64url, an SRV record with the P2P port, a TXT record `name=<display name>`, and
//! the A/AAAA records of the host the SRV record names. Nothing else is announced. The wire
//! format comes from `simple-dns`; this file only decides which records go in and what a
//! received packet means.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use crypto_core::PublicKey;
use simple_dns::rdata::{RData, A, AAAA, PTR, SRV, TXT};
use simple_dns::{Name, Packet, PacketFlag, Question, ResourceRecord, CLASS, QCLASS, QTYPE, TYPE};

use crate::reach::nearby::Announcement;

/// The service type every peer announces and browses.
pub const SERVICE: &str = "_p2p-chat._tcp.local";
/// The TTL of our records: peers re-announce at half of it, browsers forget an entry that was
/// not refreshed in time.
pub const TTL: Duration = Duration::from_secs(120);
/// Addresses put into one announcement at most.
pub const MAX_ANNOUNCED_ADDRESSES: usize = 8;
/// Announcements read from one received packet at most (the rest of the packet is ignored).
pub const MAX_INSTANCES_PER_PACKET: usize = 8;
/// The TXT value holds at most this many bytes of the name (a TXT string is at most 255 bytes
/// with its `name=` key); longer names are cut at a character boundary.
const MAX_TXT_NAME_BYTES: usize = 250;

/// What this peer announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnRecord {
    /// Our static key.
    pub key: PublicKey,
    /// Our display name (may be empty).
    pub name: String,
    /// The P2P port.
    pub port: u16,
    /// The addresses the host record lists.
    pub addresses: Vec<IpAddr>,
}

/// The instance label of a key: its 43-character base64url form.
pub fn instance_label(key: &PublicKey) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// The host name an announcement's SRV record points at: derived from the key, never the
/// computer's own host name (which often carries its owner's name).
pub fn host_name(key: &PublicKey) -> String {
    let hex: String = key.as_bytes()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("p2p-{hex}.local")
}

fn name(text: &str) -> Result<Name<'_>, simple_dns::SimpleDnsError> {
    Name::new(text)
}

/// A query for every instance of the service (PTR, multicast answer wanted).
pub fn query() -> Result<Vec<u8>, simple_dns::SimpleDnsError> {
    let mut packet = Packet::new_query(0);
    packet.questions.push(Question::new(
        name(SERVICE)?,
        QTYPE::TYPE(TYPE::PTR),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet.build_bytes_vec_compressed()
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Our announcement: PTR, SRV, TXT and the host's A/AAAA records, all with `ttl` (zero says
/// goodbye: browsers forget us at once).
pub fn announcement(own: &OwnRecord, ttl: Duration) -> Result<Vec<u8>, simple_dns::SimpleDnsError> {
    let ttl = u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX);
    let instance = format!("{}.{SERVICE}", instance_label(&own.key));
    let host = host_name(&own.key);
    let mut packet = Packet::new_reply(0);
    packet.set_flags(PacketFlag::AUTHORITATIVE_ANSWER);
    packet.answers.push(ResourceRecord::new(
        name(SERVICE)?,
        CLASS::IN,
        ttl,
        RData::PTR(PTR(name(&instance)?)),
    ));
    packet.additional_records.push(
        ResourceRecord::new(
            name(&instance)?,
            CLASS::IN,
            ttl,
            RData::SRV(SRV {
                priority: 0,
                weight: 0,
                port: own.port,
                target: name(&host)?,
            }),
        )
        .with_cache_flush(true),
    );
    let shown = cut(&own.name, MAX_TXT_NAME_BYTES);
    let txt = TXT::new().with_attribute("name", Some(shown.as_bytes()))?;
    packet.additional_records.push(
        ResourceRecord::new(name(&instance)?, CLASS::IN, ttl, RData::TXT(txt))
            .with_cache_flush(true),
    );
    for ip in own.addresses.iter().take(MAX_ANNOUNCED_ADDRESSES) {
        let rdata = match ip {
            IpAddr::V4(v4) => RData::A(A {
                address: u32::from(*v4),
            }),
            IpAddr::V6(v6) => RData::AAAA(AAAA {
                address: u128::from(*v6),
            }),
        };
        packet
            .additional_records
            .push(ResourceRecord::new(name(&host)?, CLASS::IN, ttl, rdata).with_cache_flush(true));
    }
    packet.build_bytes_vec_compressed()
}

/// What a received mDNS packet means to us.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Someone asks for the service's instances: we answer with our announcement.
    Query,
    /// Instances of the service (announcements or goodbyes), complete within this packet.
    Announcements(Vec<Announcement>),
    /// Anything else (other services, malformed packets).
    Other,
}

fn same_name(name: &Name<'_>, text: &str) -> bool {
    name.to_string()
        .eq_ignore_ascii_case(text.trim_end_matches('.'))
}

/// Reads a packet. Announcements count only when the packet itself carries the instance's SRV
/// record and its host's addresses: nothing is kept between packets, so nothing a sender
/// spreads over many packets accumulates here.
pub fn parse(bytes: &[u8]) -> Received {
    let Ok(packet) = Packet::parse(bytes) else {
        return Received::Other;
    };
    if !packet.has_flags(PacketFlag::RESPONSE) {
        let asks = packet.questions.iter().any(|q| {
            same_name(&q.qname, SERVICE) && matches!(q.qtype, QTYPE::ANY | QTYPE::TYPE(TYPE::PTR))
        });
        return if asks {
            Received::Query
        } else {
            Received::Other
        };
    }
    let records: Vec<&ResourceRecord<'_>> = packet
        .answers
        .iter()
        .chain(&packet.additional_records)
        .collect();
    let mut found = Vec::new();
    for record in &records {
        if found.len() >= MAX_INSTANCES_PER_PACKET {
            break;
        }
        let RData::PTR(PTR(instance)) = &record.rdata else {
            continue;
        };
        if !same_name(&record.name, SERVICE) {
            continue;
        }
        if let Some(announcement) = instance_of(instance, record.ttl, &records) {
            found.push(announcement);
        }
    }
    if found.is_empty() {
        Received::Other
    } else {
        Received::Announcements(found)
    }
}

/// The key an instance name carries: `<base64url key>._p2p-chat._tcp.local`.
fn key_of(instance: &Name<'_>) -> Option<PublicKey> {
    let labels = instance.get_labels();
    let (first, rest) = labels.split_first()?;
    let rest: Vec<String> = rest.iter().map(ToString::to_string).collect();
    if !rest.join(".").eq_ignore_ascii_case(SERVICE) {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(first.as_ref()).ok()?;
    PublicKey::from_slice(&bytes).ok()
}

fn instance_of(
    instance: &Name<'_>,
    ttl: u32,
    records: &[&ResourceRecord<'_>],
) -> Option<Announcement> {
    let key = key_of(instance)?;
    let srv = records.iter().find_map(|r| match &r.rdata {
        RData::SRV(srv) if r.name == *instance && srv.port != 0 => Some(srv),
        _ => None,
    })?;
    let name = records
        .iter()
        .find_map(|r| match &r.rdata {
            RData::TXT(txt) if r.name == *instance => txt.attributes().remove("name").flatten(),
            _ => None,
        })
        .unwrap_or_default();
    let mut addresses = Vec::new();
    for record in records {
        if record.name != srv.target {
            continue;
        }
        let ip = match &record.rdata {
            RData::A(a) => IpAddr::V4(a.address.into()),
            RData::AAAA(aaaa) => IpAddr::V6(aaaa.address.into()),
            _ => continue,
        };
        let address = SocketAddr::new(ip, srv.port);
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    Some(Announcement {
        key,
        name: crypto_core::wire::clean_name(&name),
        addresses,
        ttl: Duration::from_secs(u64::from(ttl)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(name: &str) -> OwnRecord {
        OwnRecord {
            key: PublicKey::from_bytes([7; 32]),
            name: name.into(),
            port: 6000,
            addresses: vec![
                "10.9.0.1".parse().unwrap(),
                "2001:db8:9::1".parse().unwrap(),
            ],
        }
    }

    #[test]
    fn an_announcement_reads_back_as_key_name_and_addresses() {
        let bytes = announcement(&own("alice"), TTL).unwrap();
        let Received::Announcements(found) = parse(&bytes) else {
            panic!("not an announcement");
        };
        assert_eq!(
            found,
            vec![Announcement {
                key: PublicKey::from_bytes([7; 32]),
                name: "alice".into(),
                addresses: vec![
                    "10.9.0.1:6000".parse().unwrap(),
                    "[2001:db8:9::1]:6000".parse().unwrap()
                ],
                ttl: TTL,
            }]
        );
        let Received::Announcements(bye) =
            parse(&announcement(&own("alice"), Duration::ZERO).unwrap())
        else {
            panic!("not a goodbye");
        };
        assert_eq!(bye[0].ttl, Duration::ZERO);
    }

    #[test]
    fn the_announcement_carries_nothing_but_key_name_port_and_addresses() {
        let bytes = announcement(&own("alice"), TTL).unwrap();
        let packet = Packet::parse(&bytes).unwrap();
        let names: Vec<String> = packet
            .answers
            .iter()
            .chain(&packet.additional_records)
            .map(|r| r.name.to_string())
            .collect();
        let key = instance_label(&PublicKey::from_bytes([7; 32]));
        for n in &names {
            assert!(
                n == SERVICE || n == &format!("{key}.{SERVICE}") || n == "p2p-070707070707.local",
                "{n}"
            );
        }
        // PTR, SRV, TXT, A, AAAA.
        assert_eq!(names.len(), 5);
    }

    #[test]
    fn a_long_name_is_cut_to_fit_a_txt_string_and_control_characters_go() {
        let long = "é".repeat(200);
        let bytes = announcement(&own(&long), TTL).unwrap();
        let Received::Announcements(found) = parse(&bytes) else {
            panic!("not an announcement");
        };
        assert_eq!(found[0].name, "é".repeat(64));
        let bytes = announcement(&own("bob\u{1b}[31m"), TTL).unwrap();
        let Received::Announcements(found) = parse(&bytes) else {
            panic!("not an announcement");
        };
        assert_eq!(found[0].name, "bob[31m");
    }

    #[test]
    fn queries_other_services_and_garbage_are_told_apart() {
        assert_eq!(parse(&query().unwrap()), Received::Query);
        let mut other = Packet::new_query(0);
        other.questions.push(Question::new(
            Name::new("_printer._tcp.local").unwrap(),
            QTYPE::TYPE(TYPE::PTR),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        assert_eq!(parse(&other.build_bytes_vec().unwrap()), Received::Other);
        assert_eq!(parse(b"\x00\x01garbage"), Received::Other);
        assert_eq!(parse(&[]), Received::Other);
    }

    #[test]
    fn an_instance_whose_label_is_not_a_key_or_without_srv_is_ignored() {
        let mut packet = Packet::new_reply(0);
        let bad = format!("not-a-key.{SERVICE}");
        packet.answers.push(ResourceRecord::new(
            Name::new(SERVICE).unwrap(),
            CLASS::IN,
            120,
            RData::PTR(PTR(Name::new(&bad).unwrap())),
        ));
        assert_eq!(parse(&packet.build_bytes_vec().unwrap()), Received::Other);
        // A PTR to a valid key but no SRV in the packet: nothing to dial.
        let good = format!(
            "{}.{SERVICE}",
            instance_label(&PublicKey::from_bytes([1; 32]))
        );
        let mut packet = Packet::new_reply(0);
        packet.answers.push(ResourceRecord::new(
            Name::new(SERVICE).unwrap(),
            CLASS::IN,
            120,
            RData::PTR(PTR(Name::new(&good).unwrap())),
        ));
        assert_eq!(parse(&packet.build_bytes_vec().unwrap()), Received::Other);
    }
}
