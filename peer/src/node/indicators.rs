//! The settings of typing indicators and read receipts (PROTOCOL.md §8.10): both off unless
//! the user turns them on, for everyone or per contact. The answer for a contact is
//! reciprocal — it decides both whether we send ours to that contact and whether we show
//! theirs — so turning one off also hides what others send, as in Signal. The settings are in
//! the store (`settings`); a copy is kept here, loaded on first use, so a typing payload costs
//! no store work to check.

use tokio::sync::{OnceCell, RwLock};

use crypto_core::PublicKey;

use super::Node;
use crate::event::{Event, IndicatorOverrideInfo};
use crate::persist::StoreUnavailable;
use crate::store::{Indicator, IndicatorSettings, StoreError};

/// The copy of the settings in memory.
#[derive(Default)]
pub(super) struct Indicators {
    settings: OnceCell<RwLock<IndicatorSettings>>,
}

/// A change asked for by `set_indicators` (PROTOCOL.md §8.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorChange {
    /// `None`: the global setting; else one contact's override.
    pub peer: Option<PublicKey>,
    /// Typing indicators: `None` leaves it; `Some(None)` removes a contact's override.
    pub typing: Option<Option<bool>>,
    /// Read receipts, the same way.
    pub read_receipts: Option<Option<bool>>,
}

/// Why `set_indicators` failed.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    /// An override for a key that is not a contact.
    #[error("not a contact: overrides are for contacts only")]
    NotAContact,
    /// The store failed.
    #[error("cannot save the setting: {0}")]
    Store(#[from] StoreError),
    /// The store thread did not answer.
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

impl Node {
    /// The settings, loaded from the store the first time (all off if it cannot be read).
    async fn indicator_settings(&self) -> &RwLock<IndicatorSettings> {
        self.inner
            .indicators
            .settings
            .get_or_init(|| async {
                let loaded = match self.store().call(|s| s.indicator_settings()).await {
                    Ok(Ok(settings)) => settings,
                    Ok(Err(e)) => {
                        tracing::warn!("cannot read the indicator settings (all off): {e}");
                        IndicatorSettings::default()
                    }
                    Err(e) => {
                        tracing::warn!("cannot read the indicator settings (all off): {e}");
                        IndicatorSettings::default()
                    }
                };
                RwLock::new(loaded)
            })
            .await
    }

    /// A copy of the settings now.
    pub(super) async fn indicators_now(&self) -> IndicatorSettings {
        self.indicator_settings().await.read().await.clone()
    }

    /// Whether `which` is on with `key` (its override, else the global setting).
    pub(super) async fn indicator_on(&self, which: Indicator, key: &PublicKey) -> bool {
        self.indicator_settings()
            .await
            .read()
            .await
            .is_on(which, key)
    }

    /// [`Node::indicator_on`] without waiting: `None` until the settings are loaded or while
    /// they are being changed.
    pub(super) fn indicator_on_now(&self, which: Indicator, key: &PublicKey) -> Option<bool> {
        let settings = self.inner.indicators.settings.get()?.try_read().ok()?;
        Some(settings.is_on(which, key))
    }

    /// Applies `set_indicators`: saved, then every UI client gets `indicators`.
    pub async fn set_indicators(&self, change: IndicatorChange) -> Result<(), IndicatorError> {
        let lock = self.indicator_settings().await;
        // Held across the store write, so two changes cannot leave memory and disk apart.
        let mut settings = lock.write().await;
        let saved = change.clone();
        self.store()
            .call(move |s| -> Result<(), IndicatorError> {
                if let Some(peer) = &saved.peer {
                    if s.contact(peer)?.is_none_or(|c| c.replaced_by.is_some()) {
                        return Err(IndicatorError::NotAContact);
                    }
                }
                for (which, value) in [
                    (Indicator::Typing, saved.typing),
                    (Indicator::ReadReceipts, saved.read_receipts),
                ] {
                    if let Some(value) = value {
                        s.set_indicator(which, saved.peer.as_ref(), value)?;
                    }
                }
                Ok(())
            })
            .await??;
        for (which, value) in [
            (Indicator::Typing, change.typing),
            (Indicator::ReadReceipts, change.read_receipts),
        ] {
            if let Some(value) = value {
                settings.apply(which, change.peer.as_ref(), value);
            }
        }
        let event = indicators_event(&settings);
        drop(settings);
        self.emit(event);
        Ok(())
    }

    /// The `indicators` event: both settings and every override.
    pub async fn indicators_event(&self) -> Event {
        indicators_event(&*self.indicator_settings().await.read().await)
    }
}

fn indicators_event(settings: &IndicatorSettings) -> Event {
    Event::Indicators {
        typing: settings.typing,
        read_receipts: settings.read_receipts,
        contacts: settings
            .overrides
            .iter()
            .map(|(key, o)| {
                (
                    key.to_base64(),
                    IndicatorOverrideInfo {
                        typing: o.typing,
                        read_receipts: o.read_receipts,
                    },
                )
            })
            .collect(),
    }
}
