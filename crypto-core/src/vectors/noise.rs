//! Replays cacophony-format Noise vectors: both sides with the vector's fixed keys, every
//! handshake message, the handshake hash and every transport message, byte for byte.

use alloc::string::String;
use alloc::vec::Vec;

use crate::json::{write_u64, Json};

use super::{Checks, Outcome};
use crate::keys::Identity;
use crate::noise::{InitiatorStart, ResponderStart, Transport, PROTOCOL_NAME};

/// The protocol name (cacophony and snow say `protocol_name`, noise-c says `name`).
pub(crate) fn protocol_name<'j>(entry: &'j Json<'_>) -> &'j str {
    entry["protocol_name"]
        .as_str()
        .or_else(|| entry["name"].as_str())
        .unwrap_or("?")
}

pub(crate) fn run_entry(entry: &Json<'_>) -> Outcome {
    if protocol_name(entry) != PROTOCOL_NAME {
        return Outcome::Skip;
    }
    let mut checks = Checks::default();
    replay_xx(entry, &mut checks);
    checks.outcome()
}

/// `message <index>` plus `suffix`, naming the message a check is about.
fn message(index: usize, suffix: &str) -> String {
    let mut text = String::from("message ");
    write_u64(&mut text, index as u64);
    text.push_str(suffix);
    text
}

/// The value of a handshake or transport step, or a recorded `message <index>: <error>`.
fn step<T, E: core::fmt::Display>(
    checks: &mut Checks,
    index: usize,
    result: Result<T, E>,
) -> Option<T> {
    result
        .map_err(|e| checks.fail_with(&message(index, ": "), &e))
        .ok()
}

/// Returns `None` once a step has failed (the failure is in `checks`).
fn replay_xx(entry: &Json<'_>, checks: &mut Checks) -> Option<()> {
    let c = checks;
    let init_prologue = c.hex(entry, "init_prologue");
    let resp_prologue = c.hex(entry, "resp_prologue");
    let init_static = Identity::from_secret_bytes(c.key(entry, "init_static"));
    let resp_static = Identity::from_secret_bytes(c.key(entry, "resp_static"));
    let init_ephemeral = c.key(entry, "init_ephemeral");
    let resp_ephemeral = c.key(entry, "resp_ephemeral");
    let Some(list) = entry["messages"].as_array() else {
        c.fail(&["missing messages[]"]);
        return None;
    };
    let messages: Vec<(Vec<u8>, Vec<u8>)> = list
        .iter()
        .map(|m| (c.hex(m, "payload"), c.hex(m, "ciphertext")))
        .collect();
    if messages.len() < 3 {
        c.fail(&["XX needs at least three messages"]);
    }
    if c.failed() {
        return None;
    }

    let initiator = InitiatorStart::new_with_fixed_ephemeral_for_test_vectors_only(
        &init_static,
        &init_prologue,
        init_ephemeral,
    );
    let responder = ResponderStart::new_with_fixed_ephemeral_for_test_vectors_only(
        &resp_static,
        &resp_prologue,
        resp_ephemeral,
    );

    let (initiator, wire) = step(c, 0, initiator.write_message_1(&messages[0].0))?;
    c.eq("message 0 ciphertext", &wire, &messages[0].1);
    let (responder, payload) = step(c, 0, responder.read_message_1(&wire))?;
    c.eq("message 0 payload", &payload, &messages[0].0);

    let (responder, wire) = step(c, 1, responder.write_message_2(&messages[1].0))?;
    c.eq("message 1 ciphertext", &wire, &messages[1].1);
    let (initiator, payload) = step(c, 1, initiator.read_message_2(&wire))?;
    c.eq("message 1 payload", &payload, &messages[1].0);
    c.check(
        initiator.remote_static() == resp_static.public_key(),
        "initiator learned the wrong responder static key",
    );

    let (mut init_transport, wire) = step(c, 2, initiator.write_message_3(&messages[2].0))?;
    c.eq("message 2 ciphertext", &wire, &messages[2].1);
    let (mut resp_transport, payload) = step(c, 2, responder.read_message_3(&wire))?;
    c.eq("message 2 payload", &payload, &messages[2].0);
    c.check(
        resp_transport.remote_static() == init_static.public_key(),
        "responder learned the wrong initiator static key",
    );

    if let Some(want) = entry["handshake_hash"]
        .as_str()
        .and_then(crate::encoding::from_hex)
    {
        for transport in [&init_transport, &resp_transport] {
            c.eq("handshake hash", transport.handshake_hash(), &want);
        }
    }
    for (index, (payload, ciphertext)) in messages.iter().enumerate().skip(3) {
        let (sender, receiver): (&mut Transport, &mut Transport) = if index % 2 == 0 {
            (&mut init_transport, &mut resp_transport)
        } else {
            (&mut resp_transport, &mut init_transport)
        };
        let sealed = step(c, index, sender.seal(payload))?;
        c.eq(
            &message(index, " ciphertext"),
            &sealed.ciphertext,
            ciphertext,
        );
        let opened = step(c, index, receiver.open(&sealed.nonce, ciphertext))?;
        c.eq(&message(index, " payload"), &opened, payload);
    }
    Some(())
}
