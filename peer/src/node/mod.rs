//! The node: one peer's sessions with other peers, and everything it does with them.
//!
//! [`Node`] is a cheap handle; what it is made of lives in the module that changes it, so a
//! change belongs where its state is:
//!
//! * [`registry`] — live sessions keyed by the remote static key, with PROTOCOL.md §7's
//!   duplicate rule and the session limit, and what each session shares with its reader (the
//!   stranger flag and place, the ack ids it owes us).
//! * [`driver`] — one connection from dial or accept through the handshake to a running
//!   session and its end; the listener, per-address rate limit, the pending-handshake table
//!   and strangers' per-address cap (`crate::admission`), and shutdown.
//! * [`trust`] — trust bound to keys: contacts, message requests from strangers, blocking,
//!   key changes raised by dials that expected a contact's key, the verified flag and invites
//!   (PROTOCOL.md §8.2, §8.3; SECURITY.md). Nicknames go here.
//! * [`inbound`] — what a session received: store first, then acknowledge (PROTOCOL.md §8.1).
//! * [`sending`] — our messages: committed to the outbox, then written to live sessions; the
//!   backlog a session gets when it comes up.
//! * [`rooms`] — creating and announcing rooms. Room authority goes here.
//! * [`names`] — our display name (saved, sent on change), contacts' renames, nicknames and
//!   the confusable-name check every new name goes through; `last_seen` at a session's end.
//! * [`redial`] — keeping contacts connected: dialling every known address of each contact
//!   we want a session with (`crate::reach::keep` is the plan), then an introduction.
//! * [`addresses`] — where others can reach us (listen port, our kind-tagged addresses from
//!   `crate::reach` and what contacts observed, the invite's target).
//! * [`announce`] — the `addresses` payload: ours to each contact, theirs into their address
//!   lists, where they see us into our observed addresses; how a session was reached.
//! * [`introduce`] — introductions through a mutual contact: asking, passing on, answering
//!   (PROTOCOL.md §7.2); [`punch`] — the simultaneous dial that follows.
//! * [`queries`] — what the UI asks for: `info`, peers, contacts, greeting, history.
//! * [`history`] — search, history around a message, deleting on this device.
//! * [`nearby`] — people nearby on the LAN (from `crate::reach::mdns`) and dialling them.
//! * [`timers`] — disappearing messages: setting a conversation's timer, announcing it,
//!   believing a received one, and `message_deleted` when the store's sweep deleted some.
//! * [`indicators`], [`typing`], [`receipts`] — the opt-in typing indicators and read
//!   receipts: their settings (global and per contact, reciprocal), typing rate-limited on the
//!   wire and bounded on receipt, receipts for what the page shows (PROTOCOL.md §8.10).
//! * [`files`] — files and pictures: offers, pulling chunks through a bounded window,
//!   verifying and storing them, resuming, pause/cancel/retry, uploads and downloads.
//!
//! The store handle is given at construction ([`NodeConfig::store`]); every database access
//! goes through its thread, so nothing here blocks the runtime.

mod addresses;
mod amend;
mod announce;
mod driver;
mod files;
mod history;
mod inbound;
mod indicators;
mod introduce;
mod names;
mod nearby;
mod punch;
mod queries;
mod reactions;
mod receipts;
mod redial;
mod registry;
mod rooms;
mod sending;
mod timers;
mod trust;
mod typing;

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use crypto_core::wire::clean_name;
use crypto_core::{fingerprint, Identity, PublicKey};
use tokio::sync::broadcast;

use crate::event::Event;
use crate::fingerprints::FingerprintCache;
use crate::limits::NodeLimits;
use crate::persist::StoreHandle;

pub use driver::{ConnectError, MAX_PENDING_HANDSHAKES};
pub use files::{
    clean_file_name, create_private_file, Download, FileControl, FileError, FilesConfig,
    SendSource, DEFAULT_FILE_QUOTA, DEFAULT_FILE_QUOTA_PER_CONTACT, DEFAULT_MAX_FILE_SIZE,
    MAX_PENDING_UPLOADS, SYNC_EVERY,
};
pub use history::{HistoryActionError, MessageAuthor};
pub use indicators::{IndicatorChange, IndicatorError};
pub use introduce::{IntroduceError, ASK_TIMEOUT, MAX_INTRODUCERS};
pub use names::NicknameError;
pub use nearby::NearbyError;
pub use queries::{HistoryError, MAX_HISTORY_PAGE};
pub use reactions::valid_emoji;
pub use receipts::ReceiptError;
pub use redial::{MAX_CONCURRENT_DIALS, REDIAL_BASE, REDIAL_CAP};
pub use registry::{keep_new_session, Refusal, RACE_WINDOW};
pub use rooms::RoomError;
pub use sending::{SendError, Target, MAX_TEXT_CHARS};
pub use timers::{TimerError, MAX_TIMER_CLOCK_AHEAD_MS, TIMER_PRESETS};
pub use trust::{InviteError, KeyChangeError, RequestError};
pub use typing::{MAX_TYPING_PER_SENDER, TYPING_EXPIRY, TYPING_MIN_START_GAP, TYPING_RESEND};

/// Node settings.
pub struct NodeConfig {
    /// Our static identity.
    pub identity: Identity,
    /// Display name sent in hellos (the caller resolves `--name` against the saved one).
    pub name: String,
    /// Deadline for a whole handshake (10 s by the protocol; shorter in tests).
    pub handshake_timeout: Duration,
    /// The store thread every contact, message and room goes through.
    pub store: StoreHandle,
}

/// What the handle points at: our identity, the event channel, and one part per module.
struct Inner {
    identity: Identity,
    public: PublicKey,
    public_b64: String,
    fingerprint: String,
    name: RwLock<String>,
    handshake_timeout: Duration,
    store: StoreHandle,
    fingerprints: FingerprintCache,
    events: broadcast::Sender<Event>,
    sessions: registry::Registry,
    connections: driver::Connections,
    trust: trust::Trust,
    outbox: sending::Outbox,
    redial: redial::Redial,
    addresses: addresses::OwnAddresses,
    punches: punch::Punches,
    introductions: introduce::Introductions,
    held_announcements: announce::HeldAnnouncements,
    contacts_notice: queries::ContactsNotice,
    nearby: nearby::Nearby,
    indicators: indicators::Indicators,
    typing: typing::Typing,
    files: files::Files,
}

/// A handle to the node; cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps inconsistent; keep going.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Node {
    /// A node with no listener yet and the default [`NodeLimits`].
    pub fn new(config: NodeConfig) -> Self {
        Self::with_limits(config, NodeLimits::default())
    }

    /// A node with no listener yet and these limits.
    pub fn with_limits(config: NodeConfig, limits: NodeLimits) -> Self {
        let public = *config.identity.public_key();
        // A UI that lags further than this loses events and is told to resync (`crate::ui`).
        let (events, _) = broadcast::channel(limits.event_capacity.max(1));
        Self {
            inner: Arc::new(Inner {
                public_b64: public.to_base64(),
                fingerprint: fingerprint(&public),
                public,
                identity: config.identity,
                name: RwLock::new(clean_name(&config.name)),
                handshake_timeout: config.handshake_timeout,
                store: config.store,
                fingerprints: FingerprintCache::default(),
                events,
                sessions: registry::Registry::new(limits.max_sessions),
                connections: driver::Connections::new(&limits),
                trust: trust::Trust::default(),
                outbox: sending::Outbox::default(),
                redial: redial::Redial::default(),
                addresses: addresses::OwnAddresses::default(),
                punches: punch::Punches::default(),
                introductions: introduce::Introductions::default(),
                held_announcements: announce::HeldAnnouncements::default(),
                contacts_notice: queries::ContactsNotice::default(),
                nearby: nearby::Nearby::default(),
                indicators: indicators::Indicators::default(),
                typing: typing::Typing::default(),
                files: files::Files::default(),
            }),
        }
    }

    /// Our public key.
    pub fn public_key(&self) -> PublicKey {
        self.inner.public
    }

    /// Our display name.
    pub fn name(&self) -> String {
        self.inner
            .name
            .read()
            .map(|n| n.clone())
            .unwrap_or_default()
    }

    /// Receives every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Emits an event to every subscriber.
    pub fn emit(&self, event: Event) {
        let _ = self.inner.events.send(event);
    }

    /// Whether any UI (or terminal chat) is subscribed to events.
    pub fn has_subscribers(&self) -> bool {
        self.inner.events.receiver_count() > 0
    }

    /// The fingerprint of a remote key (cached; ~2 ms the first time).
    pub fn fingerprint_of(&self, key: &PublicKey) -> String {
        self.inner.fingerprints.get(key).to_string()
    }

    /// Fills in the fingerprint of a contact's `peer_connected` event on its way to a UI.
    /// A message request's events carry none (PROTOCOL.md §8.2): 5,200 SHA-512 rounds for
    /// every stranger's handshake, in the UI writer that also carries contacts' chats, would
    /// let a burst of strangers delay those chats (SECURITY.md §5); the page computes a
    /// stranger's fingerprint itself, in wasm, when it shows one.
    pub fn with_fingerprint(&self, event: &Event) -> Option<Event> {
        match event {
            Event::PeerConnected(info) if info.contact && info.fingerprint.is_empty() => {
                let key = PublicKey::from_base64(&info.public_key).ok()?;
                let mut info = info.clone();
                info.fingerprint = self.fingerprint_of(&key);
                Some(Event::PeerConnected(info))
            }
            _ => None,
        }
    }

    /// The store thread's handle.
    pub fn store(&self) -> StoreHandle {
        self.inner.store.clone()
    }

    /// Waits until every store job queued so far has finished.
    pub async fn flush_store(&self) {
        self.inner.store.flush().await;
    }
}
