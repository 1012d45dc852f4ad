//! Our LAN discovery (src/reach/mdns/, PROTOCOL.md §8.9) checked against the field's mDNS
//! daemon, the `mdns-sd` crate, in both directions:
//!
//! * a real `p2p-chat` announces; `mdns-sd` browsing `_p2p-chat._tcp.local.` resolves it to the
//!   same instance (the key), host, port, TXT `name` and address that a second real peer lists
//!   in its `nearby` event, and both drop it when the peer's SIGTERM goodbye arrives;
//! * `mdns-sd` registers a service shaped like ours (the key-derived instance and host names,
//!   TXT `name`, port); a real peer lists it as an `mdns-sd` browser resolves it, and both drop
//!   it when `mdns-sd` unregisters it;
//! * odd records `mdns-sd` emits when asked: a TXT with the `name` key twice (in two cases), a
//!   name with control characters and past the length limit, a name that is not UTF-8: both
//!   read the same name (ours cleaned as a `hello` name). An instance label that is no key, and
//!   a TXT record too big for `mdns-sd`'s packets (it then spreads the instance's records over
//!   several packets): `mdns-sd` resolves both, ours lists neither (PROTOCOL.md §8.9: one packet
//!   must carry the instance) and goes on working.
//!
//! Each test runs in a private network namespace holding nothing but a loopback interface
//! (`private_netns`): the peers with their hidden `--mdns-loopback` option, `mdns-sd` restricted
//! to loopback IPv4, so nothing leaves it. Where no such namespace can be had (not root, no
//! `unshare`), each test prints a line starting with `SKIP` in the `cargo test` output and
//! returns.

mod common;
mod private_netns;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use base64::Engine;
use common::{loopback_args, Peer, Ui};
use mdns_sd::{
    IfKind, ResolvedService, ServiceDaemon, ServiceEvent, ServiceInfo, TxtProperty,
    UnregisterStatus,
};
use private_netns::isolated;
use serde_json::Value;

/// The service type, as `mdns-sd` spells it.
const SERVICE: &str = "_p2p-chat._tcp.local.";
/// How long an expected mDNS outcome may take (the peers announce and query within 3 s).
const WAIT: Duration = Duration::from_secs(10);

/// An `mdns-sd` daemon on loopback IPv4 only: it takes its commands in order, so whatever it
/// sends for a later `browse` or `register` goes out on `lo` alone (and the namespace has no
/// other interface anyway).
fn daemon() -> ServiceDaemon {
    let daemon = ServiceDaemon::new().expect("mdns-sd daemon");
    daemon.disable_interface(IfKind::All).expect("disable all");
    daemon
        .enable_interface(IfKind::LoopbackV4)
        .expect("enable lo");
    daemon
}

/// A peer on loopback with LAN discovery kept on the loopback interface.
fn discovering_peer(name: &str) -> Peer {
    let mut args = loopback_args(0);
    args.extend(["--ephemeral", "--mdns-loopback", "--name", name].map(String::from));
    Peer::start_args(&args)
}

/// The instance label of a key: its base64url form (PROTOCOL.md §8.9).
fn label(key: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// The host name an announcement's SRV record names: `p2p-<first 6 bytes in hex>.local.`.
fn host(key: &[u8]) -> String {
    let hex: String = key[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("p2p-{hex}.local.")
}

fn fullname(key: &[u8]) -> String {
    format!("{}.{SERVICE}", label(key))
}

/// Waits for the browse event `pick` accepts.
async fn browse_event<T>(
    events: &mdns_sd::Receiver<ServiceEvent>,
    what: &str,
    mut pick: impl FnMut(ServiceEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv_async())
            .await
            .unwrap_or_else(|_| panic!("mdns-sd: timed out waiting for {what}"))
            .expect("mdns-sd browse channel");
        if let Some(found) = pick(event) {
            return found;
        }
    }
}

async fn resolved(events: &mdns_sd::Receiver<ServiceEvent>, name: &str) -> ResolvedService {
    resolved_all(events, &[name.to_owned()]).await.remove(0)
}

/// Waits until every one of `names` is resolved; returns them in that order.
async fn resolved_all(
    events: &mdns_sd::Receiver<ServiceEvent>,
    names: &[String],
) -> Vec<ResolvedService> {
    let mut found: HashMap<String, ResolvedService> = HashMap::new();
    let what = format!("{names:?} resolved");
    while !names.iter().all(|n| found.contains_key(n)) {
        let service = browse_event(events, &what, |e| match e {
            ServiceEvent::ServiceResolved(s) if names.contains(&s.fullname) => Some(s),
            _ => None,
        })
        .await;
        found.insert(service.fullname.clone(), *service);
    }
    names.iter().filter_map(|n| found.remove(n)).collect()
}

async fn removed(events: &mdns_sd::Receiver<ServiceEvent>, name: &str) {
    let wanted = name.to_owned();
    browse_event(events, &format!("{name} removed"), |e| match e {
        ServiceEvent::ServiceRemoved(ty, full) if full == wanted => {
            assert_eq!(ty, SERVICE);
            Some(())
        }
        _ => None,
    })
    .await;
}

/// The people in the latest `nearby` event that satisfies `check`.
async fn nearby_until(ui: &mut Ui, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let event = ui
        .wait_for(what, |e| {
            e["type"] == "nearby" && e["people"].as_array().is_some_and(|p| check(p))
        })
        .await;
    event["people"].as_array().cloned().unwrap_or_default()
}

fn person<'a>(people: &'a [Value], key: &[u8]) -> Option<&'a Value> {
    let id = B64.encode(key);
    people.iter().find(|p| p["peer_id"] == id.as_str())
}

/// The `name` TXT value as `mdns-sd` reads it (first occurrence, case-insensitive key).
fn txt_name(service: &ResolvedService) -> String {
    service
        .get_property_val_str("name")
        .expect("a TXT name")
        .to_owned()
}

/// What our peer lists for what `mdns-sd` resolved, computed from `mdns-sd`'s view: the name
/// cleaned like a `hello` name, each IPv4 address with the port.
fn as_we_list(service: &ResolvedService) -> (String, HashSet<String>) {
    let addresses = service
        .get_addresses_v4()
        .into_iter()
        .map(|ip| format!("{ip}:{}", service.port))
        .collect();
    (crypto_core::wire::clean_name(&txt_name(service)), addresses)
}

fn as_listed(entry: &Value) -> (String, HashSet<String>) {
    let addresses = entry["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .map(|a| a.as_str().expect("address").to_owned())
        .collect();
    (entry["name"].as_str().expect("name").to_owned(), addresses)
}

fn random_key() -> [u8; 32] {
    rand::random()
}

/// `mdns-sd`'s service for `key`, shaped like our announcement.
fn shaped_like_ours(key: &[u8], port: u16, txt: Vec<TxtProperty>) -> ServiceInfo {
    ServiceInfo::new(SERVICE, &label(key), &host(key), "127.0.0.1", port, txt)
        .expect("service info")
}

#[test]
fn mdns_sd_resolves_our_announcement_as_our_peer_lists_it_and_sees_our_goodbye() {
    isolated(
        "mdns_sd_resolves_our_announcement_as_our_peer_lists_it_and_sees_our_goodbye",
        || async {
            let browser = daemon();
            let events = browser.browse(SERVICE).expect("browse");
            let name = "Zoë 🦀 Ångström";
            let mut alice = discovering_peer(name);
            let bob = discovering_peer("bob");
            let mut ub = bob.ui().await;
            let key = B64.decode(&alice.public_key).expect("key");

            let seen = resolved(&events, &fullname(&key)).await;
            assert_eq!(seen.ty_domain, SERVICE);
            assert_eq!(seen.host, host(&key));
            assert_eq!(seen.port, alice.p2p_port);
            assert_eq!(txt_name(&seen), name);
            // Nothing but the name goes into the TXT record.
            let keys: Vec<&str> = seen.txt_properties.iter().map(|p| p.key()).collect();
            assert_eq!(keys, ["name"]);
            assert_eq!(
                seen.get_addresses_v4(),
                HashSet::from([Ipv4Addr::LOCALHOST])
            );
            assert_eq!(seen.get_addresses().len(), 1, "{:?}", seen.get_addresses());

            // Our own browser reads the same announcement the same way.
            let people = nearby_until(&mut ub, "alice nearby", |p| person(p, &key).is_some()).await;
            let listed = person(&people, &key).expect("alice listed");
            assert_eq!(as_listed(listed), as_we_list(&seen));

            // SIGTERM: the goodbye (TTL 0) removes alice from both at once; the records' TTL
            // (120 s) is far beyond this test's time, so only the goodbye can do it.
            assert!(alice.terminate().success());
            removed(&events, &fullname(&key)).await;
            nearby_until(&mut ub, "alice gone", |p| person(p, &key).is_none()).await;
            let _ = browser.shutdown();
        },
    );
}

#[test]
fn our_peer_lists_a_service_mdns_sd_registers_and_drops_it_on_unregister() {
    isolated(
        "our_peer_lists_a_service_mdns_sd_registers_and_drops_it_on_unregister",
        || async {
            let bob = discovering_peer("bob");
            let mut ub = bob.ui().await;
            let responder = daemon();
            let browser = daemon();
            let events = browser.browse(SERVICE).expect("browse");

            let key = random_key();
            let port = 47_001;
            let carol = shaped_like_ours(&key, port, vec![TxtProperty::from(("name", "Carol Ñ"))]);
            responder.register(carol).expect("register");

            let seen = resolved(&events, &fullname(&key)).await;
            assert_eq!(seen.port, port);
            let people = nearby_until(&mut ub, "carol nearby", |p| person(p, &key).is_some()).await;
            let listed = person(&people, &key).expect("carol listed");
            assert_eq!(
                as_listed(listed),
                (
                    "Carol Ñ".to_owned(),
                    HashSet::from([format!("127.0.0.1:{port}")])
                )
            );
            assert_eq!(as_listed(listed), as_we_list(&seen));

            // Unregistering sends mdns-sd's goodbye: our list drops carol, as mdns-sd's does.
            let status = responder
                .unregister(&fullname(&key))
                .expect("unregister")
                .recv_async()
                .await
                .expect("unregister status");
            assert!(matches!(status, UnregisterStatus::OK), "{status:?}");
            nearby_until(&mut ub, "carol gone", |p| person(p, &key).is_none()).await;
            removed(&events, &fullname(&key)).await;
            let _ = responder.shutdown();
            let _ = browser.shutdown();
        },
    );
}

#[test]
fn odd_records_mdns_sd_emits_are_read_alike_or_ignored() {
    isolated(
        "odd_records_mdns_sd_emits_are_read_alike_or_ignored",
        || async {
            let mut bob = discovering_peer("bob");
            let mut ub = bob.ui().await;
            let responder = daemon();
            let browser = daemon();
            let events = browser.browse(SERVICE).expect("browse");

            // `name` twice, in two cases (RFC 6763 §6.4: the first counts), the first with
            // control characters and longer than a display name may be.
            let shouting = random_key();
            let long = format!("\u{7}Mal\u{1b}[31mlory {}", "é".repeat(115));
            responder
                .register(shaped_like_ours(
                    &shouting,
                    47_002,
                    vec![
                        TxtProperty::from(("Name", long.as_str())),
                        TxtProperty::from(("name", "second")),
                    ],
                ))
                .expect("register");
            // A name that is not UTF-8.
            let garbled = random_key();
            responder
                .register(shaped_like_ours(
                    &garbled,
                    47_003,
                    vec![TxtProperty::from(("name", [0xff, 0xfe, b'x'].as_slice()))],
                ))
                .expect("register");
            // An instance label that is no key.
            let printer = ServiceInfo::new(
                SERVICE,
                "printer",
                "printer.local.",
                "127.0.0.1",
                47_004,
                vec![TxtProperty::from(("name", "printer"))],
            )
            .expect("service info");
            responder.register(printer).expect("register");
            // A TXT record too big for mdns-sd's packets (1,452 bytes): it sends the
            // instance's records over several packets, and ours reads one packet at a time.
            let bulky = random_key();
            let mut txt = vec![TxtProperty::from(("name", "bulky"))];
            txt.extend((0..8).map(|i| TxtProperty::from((format!("pad{i}"), "x".repeat(240)))));
            responder
                .register(shaped_like_ours(&bulky, 47_005, txt))
                .expect("register");

            let by_mdns_sd = resolved_all(
                &events,
                &[
                    fullname(&shouting),
                    fullname(&garbled),
                    fullname(&bulky),
                    format!("printer.{SERVICE}"),
                ],
            )
            .await;
            let on_the_wire = &by_mdns_sd[3];
            assert_eq!(txt_name(on_the_wire), "printer");
            assert_eq!(txt_name(&by_mdns_sd[0]), long);
            assert_eq!(
                txt_name(&by_mdns_sd[1]),
                "",
                "not UTF-8: mdns-sd reads no name"
            );
            assert_eq!(by_mdns_sd[2].txt_properties.len(), 9);

            let people = nearby_until(&mut ub, "the two odd ones", |p| {
                person(p, &shouting).is_some() && person(p, &garbled).is_some()
            })
            .await;
            for (key, seen) in [(&shouting, &by_mdns_sd[0]), (&garbled, &by_mdns_sd[1])] {
                let listed = person(&people, key).expect("listed");
                assert_eq!(as_listed(listed), as_we_list(seen));
            }
            let shown = as_listed(person(&people, &shouting).expect("listed")).0;
            assert!(shown.starts_with("Mal[31mlory é"), "{shown}");
            assert_eq!(shown.chars().count(), 64);

            // Announcements have come round again (mdns-sd announces twice, one second apart,
            // and answers our queries at 1 s and 3 s): the bulky instance, whose records never
            // share one packet, and the printer, whose label is no key, stay unlisted.
            tokio::time::sleep(Duration::from_secs(4)).await;
            let mut fresh = bob.ui().await;
            let people = nearby_until(&mut fresh, "the list now", |_| true).await;
            let ids: HashSet<String> = people
                .iter()
                .filter_map(|p| p["peer_id"].as_str().map(String::from))
                .collect();
            assert_eq!(
                ids,
                HashSet::from([B64.encode(shouting), B64.encode(garbled)])
            );
            assert!(bob.is_running());
            let _ = responder.shutdown();
            let _ = browser.shutdown();
        },
    );
}
