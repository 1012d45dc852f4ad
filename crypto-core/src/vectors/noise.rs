//! Replays cacophony-format Noise vectors: both sides with the vector's fixed keys, every
//! handshake message, the handshake hash and every transport message, byte for byte.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::json::Json;

use core::fmt::Display;

use super::{expect_eq, hex_field, key_field, outcome, Outcome};
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
    outcome(replay_xx(entry))
}

fn replay_xx(entry: &Json<'_>) -> Result<(), String> {
    let init_prologue = hex_field(entry, "init_prologue")?;
    let resp_prologue = hex_field(entry, "resp_prologue")?;
    let init_static = Identity::from_secret_bytes(key_field(entry, "init_static")?);
    let resp_static = Identity::from_secret_bytes(key_field(entry, "resp_static")?);
    let messages = entry["messages"]
        .as_array()
        .ok_or("missing messages[]")?
        .iter()
        .map(|m| Ok((hex_field(m, "payload")?, hex_field(m, "ciphertext")?)))
        .collect::<Result<Vec<_>, String>>()?;
    if messages.len() < 3 {
        return Err("XX needs at least three messages".into());
    }

    let initiator = InitiatorStart::new_with_fixed_ephemeral_for_test_vectors_only(
        &init_static,
        &init_prologue,
        key_field(entry, "init_ephemeral")?,
    );
    let responder = ResponderStart::new_with_fixed_ephemeral_for_test_vectors_only(
        &resp_static,
        &resp_prologue,
        key_field(entry, "resp_ephemeral")?,
    );

    let (initiator, wire) = initiator.write_message_1(&messages[0].0).map_err(at(0))?;
    expect_eq("message 0 ciphertext", &wire, &messages[0].1)?;
    let (responder, payload) = responder.read_message_1(&wire).map_err(at(0))?;
    expect_eq("message 0 payload", &payload, &messages[0].0)?;

    let (responder, wire) = responder.write_message_2(&messages[1].0).map_err(at(1))?;
    expect_eq("message 1 ciphertext", &wire, &messages[1].1)?;
    let (initiator, payload) = initiator.read_message_2(&wire).map_err(at(1))?;
    expect_eq("message 1 payload", &payload, &messages[1].0)?;
    if initiator.remote_static() != resp_static.public_key() {
        return Err("initiator learned the wrong responder static key".into());
    }

    let (mut init_transport, wire) = initiator.write_message_3(&messages[2].0).map_err(at(2))?;
    expect_eq("message 2 ciphertext", &wire, &messages[2].1)?;
    let (mut resp_transport, payload) = responder.read_message_3(&wire).map_err(at(2))?;
    expect_eq("message 2 payload", &payload, &messages[2].0)?;
    if resp_transport.remote_static() != init_static.public_key() {
        return Err("responder learned the wrong initiator static key".into());
    }

    for transport in [&init_transport, &resp_transport] {
        if let Ok(want) = hex_field(entry, "handshake_hash") {
            expect_eq("handshake hash", transport.handshake_hash(), &want)?;
        }
    }
    for (index, (payload, ciphertext)) in messages.iter().enumerate().skip(3) {
        let (sender, receiver): (&mut Transport, &mut Transport) = if index % 2 == 0 {
            (&mut init_transport, &mut resp_transport)
        } else {
            (&mut resp_transport, &mut init_transport)
        };
        let sealed = sender.seal(payload).map_err(at(index))?;
        expect_eq(
            &format!("message {index} ciphertext"),
            &sealed.ciphertext,
            ciphertext,
        )?;
        let opened = receiver
            .open(&sealed.nonce, ciphertext)
            .map_err(at(index))?;
        expect_eq(&format!("message {index} payload"), &opened, payload)?;
    }
    Ok(())
}

/// Prefixes an error with the message index it happened at.
fn at<E: Display>(step: usize) -> impl Fn(E) -> String {
    move |e| format!("message {step}: {e}")
}
