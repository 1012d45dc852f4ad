//! The UI actions about reaching people (PROTOCOL.md §8.12): `introduce` (ask a mutual contact
//! to introduce us, then punch through) and `contact_addresses` (what we know of where a
//! contact can be dialled). Parsed here and run by [`run`], so `actions.rs` and `ws.rs` only
//! hand them over.

use crypto_core::PublicKey;
use serde::Deserialize;
use serde_json::Value;

use super::actions::ActionError;
use crate::event::{ContactAddressInfo, Event};
use crate::node::Node;

/// The action names handled here.
pub const ACTIONS: [&str; 2] = ["introduce", "contact_addresses"];

/// A validated reach action.
#[derive(Debug, Clone, PartialEq)]
pub enum ReachAction {
    /// Ask for an introduction to `peer_id`, through `via` or any connected contact.
    Introduce {
        /// The key to reach.
        peer_id: PublicKey,
        /// The contact to ask; `None`: each connected contact in turn.
        via: Option<PublicKey>,
    },
    /// List a contact's known addresses.
    ContactAddresses {
        /// The contact.
        peer_id: PublicKey,
    },
}

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Raw {
    Introduce {
        peer_id: String,
        via: Option<String>,
    },
    ContactAddresses {
        peer_id: String,
    },
}

/// Parses an action whose name is in [`ACTIONS`].
pub fn parse(name: &str, value: Value, req: Option<Value>) -> Result<ReachAction, ActionError> {
    let fail = |message: String| ActionError {
        message,
        action: Some(name.to_owned()),
        req: req.clone(),
    };
    let key = |text: &str, field: &str| {
        PublicKey::from_base64(text)
            .map_err(|_| fail(format!("{field} is not a base64 public key")))
    };
    let raw: Raw =
        serde_json::from_value(value).map_err(|e| fail(format!("malformed {name}: {e}")))?;
    Ok(match raw {
        Raw::Introduce { peer_id, via } => ReachAction::Introduce {
            peer_id: key(&peer_id, "peer_id")?,
            via: via.map(|v| key(&v, "via")).transpose()?,
        },
        Raw::ContactAddresses { peer_id } => ReachAction::ContactAddresses {
            peer_id: key(&peer_id, "peer_id")?,
        },
    })
}

/// Runs a reach action; the event to send back to this client, if any (an introduction's
/// progress goes to every client as `introduction` events).
pub async fn run(node: &Node, action: ReachAction, req: Option<Value>) -> Option<Event> {
    match action {
        ReachAction::Introduce { peer_id, via } => match node.introduce(peer_id, via).await {
            Ok(_) => None,
            Err(e) => Some(Event::error(e.to_string(), Some("introduce"), req)),
        },
        ReachAction::ContactAddresses { peer_id } => {
            let listed = node
                .store()
                .call(move |s| s.contact_addresses(&peer_id))
                .await;
            match listed {
                Ok(Ok(list)) => Some(Event::ContactAddresses {
                    peer_id: peer_id.to_base64(),
                    addresses: list
                        .into_iter()
                        .map(|a| ContactAddressInfo {
                            address: a.address,
                            kind: a.kind.as_str(),
                            last_heard: a.last_heard,
                            last_worked: a.last_worked,
                        })
                        .collect(),
                }),
                Ok(Err(e)) => Some(Event::error(e.to_string(), Some("contact_addresses"), req)),
                Err(e) => Some(Event::error(e.to_string(), Some("contact_addresses"), req)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let key = crypto_core::Identity::generate().public_key().to_base64();
        let parsed = |text: String| {
            let value: Value = serde_json::from_str(&text).unwrap();
            let name = value["action"].as_str().unwrap().to_owned();
            parse(&name, value, None)
        };
        assert!(matches!(
            parsed(format!(r#"{{"action":"introduce","peer_id":"{key}"}}"#)),
            Ok(ReachAction::Introduce { via: None, .. })
        ));
        assert!(matches!(
            parsed(format!(
                r#"{{"action":"introduce","peer_id":"{key}","via":"{key}"}}"#
            )),
            Ok(ReachAction::Introduce { via: Some(_), .. })
        ));
        assert!(parsed(r#"{"action":"introduce","peer_id":"nope"}"#.into()).is_err());
        assert!(parsed(format!(
            r#"{{"action":"introduce","peer_id":"{key}","via":5}}"#
        ))
        .is_err());
        assert!(parsed(r#"{"action":"contact_addresses"}"#.into()).is_err());
    }
}
