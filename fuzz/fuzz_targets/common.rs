//! Deterministic fixtures shared by the fuzz targets: fixed identities and an honest session.
#![allow(dead_code)]

use crypto_core::noise::{
    InitiatorAwaitMessage2, InitiatorStart, ResponderAwaitMessage3, ResponderSendMessage2,
    ResponderStart, PROLOGUE,
};
use crypto_core::{Identity, Transport};

pub fn alice() -> Identity {
    Identity::from_secret_bytes([0x11; 32])
}

pub fn bob() -> Identity {
    Identity::from_secret_bytes([0x22; 32])
}

pub fn initiator() -> InitiatorStart {
    InitiatorStart::new_with_fixed_ephemeral_for_test_vectors_only(&alice(), PROLOGUE, [0x33; 32])
}

pub fn responder() -> ResponderStart {
    ResponderStart::new_with_fixed_ephemeral_for_test_vectors_only(&bob(), PROLOGUE, [0x44; 32])
}

/// An honest initiator after message 1, and that message.
pub fn after_message_1() -> (InitiatorAwaitMessage2, Vec<u8>) {
    initiator().write_message_1(b"").expect("honest message 1")
}

/// An honest responder that has read message 1, plus the initiator waiting for message 2.
pub fn responder_after_message_1() -> (ResponderSendMessage2, InitiatorAwaitMessage2) {
    let (init, m1) = after_message_1();
    let (resp, _) = responder().read_message_1(&m1).expect("honest read 1");
    (resp, init)
}

/// An honest responder waiting for message 3.
pub fn responder_awaiting_message_3() -> ResponderAwaitMessage3 {
    let (resp, _) = responder_after_message_1();
    resp.write_message_2(b"{}").expect("honest message 2").0
}

/// An established session: (initiator side, responder side).
pub fn session() -> (Transport, Transport) {
    let (resp, init) = responder_after_message_1();
    let (resp, m2) = resp.write_message_2(b"{}").expect("honest message 2");
    let (init, _) = init.read_message_2(&m2).expect("honest read 2");
    let (init_t, m3) = init.write_message_3(b"{}").expect("honest message 3");
    let (resp_t, _) = resp.read_message_3(&m3).expect("honest read 3");
    (init_t, resp_t)
}
