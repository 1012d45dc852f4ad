//! Events the node emits to the UI layer. Their serde form is exactly the UI protocol's event
//! JSON (PROTOCOL.md §8), so the WebSocket layer only serialises them.

use serde::Serialize;
use serde_json::Value;

/// Which side opened the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionDirection {
    /// The remote dialled us (we are the Noise responder).
    Inbound,
    /// We dialled the remote (we are the Noise initiator).
    Outbound,
}

/// How a session was reached (PROTOCOL.md §7.1, `peer_connected.reached`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reached {
    /// One side dialled an address of the other (same LAN, a public or IPv6 address).
    Direct,
    /// Through a home router's port mapping (UPnP-IGD, NAT-PMP or PCP) of one side.
    Mapped,
    /// Through an introduction by a mutual contact: both sides dialled each other at once.
    Punched,
}

/// A live session as the UI sees it (`peer_connected`).
#[derive(Debug, Clone, Serialize)]
pub struct PeerInfo {
    /// The remote's static public key, base64.
    pub peer_id: String,
    /// Same as `peer_id`.
    pub public_key: String,
    /// Display name from the remote's hello.
    pub name: String,
    /// `ip:port` of the TCP connection.
    pub address: String,
    /// The port the remote says it accepts connections on.
    pub listen_port: u16,
    /// Who dialled.
    pub direction: ConnectionDirection,
    /// The daemon-computed fingerprint of the remote key; empty for a message request (the
    /// page computes it, PROTOCOL.md §8.2).
    pub fingerprint: String,
    /// Whether the user marked this key verified.
    pub verified: bool,
    /// False for a message request (PROTOCOL.md §8.2).
    pub contact: bool,
    /// Contacts whose names are equal or confusable with this one's (PROTOCOL.md §8.3).
    pub confusable_with: Vec<String>,
    /// How the session was reached: `direct`, `mapped` or `punched`.
    pub reached: Reached,
}

/// One known address of a contact (`contact_addresses`).
#[derive(Debug, Clone, Serialize)]
pub struct ContactAddressInfo {
    /// `ip:port` (`[ipv6]:port`).
    pub address: String,
    /// `lan`, `mapped`, `ipv6` or `observed`.
    pub kind: &'static str,
    /// When the contact last told us about it, or we last reached it there, Unix ms.
    pub last_heard: u64,
    /// When a session with the contact's key last succeeded there, Unix ms; null: never.
    pub last_worked: Option<u64>,
}

/// A message request (PROTOCOL.md §8.2): the `request` event and the `requests` entries.
#[derive(Debug, Clone, Serialize)]
pub struct RequestInfo {
    /// The stranger's key.
    pub peer_id: String,
    /// The name it announced last.
    pub name: String,
    /// Always empty: the daemon spends no fingerprint on a stranger (PROTOCOL.md §8.2); the
    /// page computes it from `peer_id`. Kept for pages that read it.
    pub fingerprint: String,
    /// Its dialable address, if it announced a port.
    pub address: Option<String>,
    /// First handshake, Unix ms.
    pub first_seen: u64,
    /// Latest handshake or message, Unix ms.
    pub last_seen: u64,
    /// Messages it holds.
    pub messages: u32,
    /// Contacts whose names are equal or confusable with this one's (PROTOCOL.md §8.3).
    pub confusable_with: Vec<String>,
}

/// One contact in a `contacts` event.
#[derive(Debug, Clone, Serialize)]
pub struct ContactInfo {
    /// Its key.
    pub peer_id: String,
    /// The name to show: our local nickname if set, else `own_name`.
    pub name: String,
    /// The name the contact last announced for itself (hello or `name` payload).
    pub own_name: String,
    /// Our local nickname for it, if set (the remote cannot change it).
    pub nickname: Option<String>,
    /// Last dialable address (`ip:listen_port`).
    pub last_address: Option<String>,
    /// First handshake, Unix ms.
    pub first_seen: u64,
    /// Latest handshake or end of a session, Unix ms.
    pub last_seen: u64,
    /// Verified by the user.
    pub verified: bool,
    /// Has a live session now.
    pub online: bool,
    /// The disappearing-message timer of our direct conversation, seconds; 0 = off.
    pub timer: u64,
}

/// One entry of a `history` event: a chat message, or in a room a change of the room
/// (PROTOCOL.md §8.1, §8.4).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// Built and serialized at once, page by page; boxing the chat variant would only add an
// allocation per message.
#[allow(clippy::large_enum_variant)]
pub enum HistoryEntry {
    /// A chat message.
    Chat(HistoryMessage),
    /// An accepted change of the room, in timeline order.
    RoomChange(RoomChangeInfo),
    /// A setting of the disappearing-message timer, in timeline order.
    Timer(TimerChangeInfo),
}

/// A setting of a conversation's disappearing-message timer as a `history` entry
/// (PROTOCOL.md §8.6).
#[derive(Debug, Clone, Serialize)]
pub struct TimerChangeInfo {
    /// The newest message `seq` when it was applied: the line goes after that message.
    pub seq: i64,
    /// Who set it (`"me"` or a peer_id).
    pub by: String,
    /// The new timer in seconds; 0 = off.
    pub seconds: u64,
    /// When it was set, Unix ms.
    pub set_at: u64,
}

/// A room change as the UI sees it (a `history` entry; the `room_change` event carries the
/// same fields plus the room).
#[derive(Debug, Clone, Serialize)]
pub struct RoomChangeInfo {
    /// The newest message `seq` when it was applied: the change goes after that message.
    pub seq: i64,
    /// The creator's peer_id.
    pub by: String,
    /// When we applied it, Unix ms.
    pub at: u64,
    /// Members added (peer_ids).
    pub added: Vec<String>,
    /// Members removed (peer_ids).
    pub removed: Vec<String>,
    /// The new name, or null if unchanged.
    pub name: Option<String>,
}

/// One recipient of our room message and how far it got, in a `history` entry.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientState {
    /// The member's peer_id.
    pub peer_id: String,
    /// `queued`, `sent` or `delivered`.
    pub state: &'static str,
}

/// One message in a `history` event.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryMessage {
    /// Local order (page with `before`).
    pub seq: i64,
    /// Sender-chosen id.
    pub id: String,
    /// The conversation id.
    pub conversation: String,
    /// The sender's peer_id, or `"me"`.
    pub from: String,
    /// The sender's name.
    pub name: String,
    /// The text (untrusted).
    pub text: String,
    /// Sender's clock.
    pub sent_at: u64,
    /// Our clock.
    pub received_at: u64,
    /// `"in"` or `"out"`.
    pub direction: &'static str,
    /// Outgoing only: `queued`, `sent` or `delivered`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    /// Our own room messages only: every member it is addressed to, with its own state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<RecipientState>>,
    /// The message it replies to, with the quoted text from our own history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<QuoteInfo>,
    /// Everyone's current reaction to it (PROTOCOL.md §8.6); omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionInfo>,
    /// When its sender last edited it (PROTOCOL.md §8.7); omitted if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<u64>,
    /// Its sender deleted it for everyone (the text is empty); omitted when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unsent: bool,
    /// Our message: who has read it (read receipts, PROTOCOL.md §8.10), only those with read
    /// receipts on; omitted when nobody.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub read_by: Vec<String>,
    /// A file message's file (PROTOCOL.md §8.11); omitted for a chat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
}

/// One contact's overrides in the `indicators` event; `null` follows the global setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndicatorOverrideInfo {
    /// Typing indicators with this contact, or null.
    pub typing: Option<bool>,
    /// Read receipts with this contact, or null.
    pub read_receipts: Option<bool>,
}

/// The message a reply quotes (PROTOCOL.md §8.6). `text` and `name` come from our own history:
/// `null` when we do not hold that message in this conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuoteInfo {
    /// The quoted message's sender: a peer_id or `"me"`.
    pub from: String,
    /// Its id.
    pub id: String,
    /// Its text as we stored it (untrusted: render as text), or null.
    pub text: Option<String>,
    /// Its sender's name, or null.
    pub name: Option<String>,
}

/// One person's reaction in a `history` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReactionInfo {
    /// Who: a peer_id or `"me"`.
    pub by: String,
    /// The emoji (untrusted: render as text).
    pub emoji: String,
}

/// One message found by `search` (PROTOCOL.md §8.5).
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// Its conversation id.
    pub conversation: String,
    /// Its local order (what `history_around` takes).
    pub seq: i64,
    /// Sender-chosen id.
    pub id: String,
    /// The sender's peer_id, or `"me"`.
    pub from: String,
    /// The sender's name.
    pub name: String,
    /// Sender's clock.
    pub sent_at: u64,
    /// Our clock.
    pub received_at: u64,
    /// `"in"` or `"out"`.
    pub direction: &'static str,
    /// Up to 160 characters of the text around the first match (untrusted: render as text).
    pub snippet: String,
    /// Matches in `snippet`: `[start, end)` in UTF-16 code units, sorted, not overlapping.
    pub ranges: Vec<[usize; 2]>,
    /// Text was left out before the snippet.
    pub cut_before: bool,
    /// Text was left out after the snippet.
    pub cut_after: bool,
}

/// The file of a file message, in `peer_message`, `message_sent` and `history` entries
/// (PROTOCOL.md §8.11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    /// Names it in `GET /files/<key>`.
    pub key: String,
    /// The cleaned name (untrusted: render as text).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// The offered media type (a claim).
    pub media_type: String,
    /// The offered SHA-256 of the whole file, hex.
    pub sha256: String,
    /// Where its transfer stands (`file_progress.state`).
    pub state: &'static str,
    /// Bytes verified by the receiver.
    pub bytes: u64,
}

/// A `file_progress` event (PROTOCOL.md §8.11).
#[derive(Debug, Clone, Serialize)]
pub struct FileProgressInfo {
    /// The file message's conversation.
    pub conversation: String,
    /// The file's sender: `"me"` or a peer_id.
    pub from: String,
    /// The file message's id.
    pub id: String,
    /// The other side of this transfer.
    pub peer_id: String,
    /// `"out"` (ours) or `"in"`.
    pub direction: &'static str,
    /// `waiting`, `sending`, `receiving`, `paused`, `complete`, `failed`, `cancelled` or
    /// `refused`.
    pub state: &'static str,
    /// Bytes verified by the receiver.
    pub bytes: u64,
    /// The file's size.
    pub size: u64,
    /// Recent bytes per second.
    pub rate: u64,
    /// Why it failed, was cancelled or refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One UI event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Our own identity and settings.
    Info {
        /// Our public key, base64.
        public_key: String,
        /// Its fingerprint.
        fingerprint: String,
        /// Our display name.
        name: String,
        /// The P2P port we listen on.
        p2p_port: u16,
        /// Where another computer can dial us, best first, each with its kind (see `reach`);
        /// empty when only this computer can.
        addresses: Vec<crate::reach::ReachAddress>,
        /// Software and version.
        agent: String,
    },
    /// A human-readable progress line.
    Status {
        /// The text.
        message: String,
    },
    /// A session was established (or replaced a duplicate).
    PeerConnected(PeerInfo),
    /// A session ended.
    PeerDisconnected {
        /// Remote key.
        peer_id: String,
        /// Same as `peer_id`.
        public_key: String,
        /// Remote display name.
        name: String,
        /// `ip:port` of the connection.
        address: String,
        /// Why it ended.
        reason: String,
    },
    /// A chat message arrived.
    PeerMessage {
        /// Sender's key.
        peer_id: String,
        /// Sender's display name.
        name: String,
        /// Sender-chosen message id.
        id: String,
        /// The text (untrusted: render as text).
        text: String,
        /// Sender's clock.
        sent_at: u64,
        /// Our clock.
        received_at: u64,
        /// `"everyone"` for a broadcast, else the sender's `peer_id`.
        conversation: String,
        /// The message it replies to (quoted from our history).
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_to: Option<QuoteInfo>,
        /// Its `seq` in our history (absent for a message request's message), so a page that
        /// holds only a window of the conversation can page on from it (PROTOCOL.md §8.1).
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<i64>,
        /// A file message's file (PROTOCOL.md §8.11); boxed, so chats do not pay for it.
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<Box<FileInfo>>,
    },
    /// We sent a message.
    MessageSent {
        /// Our message id.
        id: String,
        /// The text.
        text: String,
        /// Our clock.
        sent_at: u64,
        /// `"everyone"` or the recipient's `peer_id`.
        conversation: String,
        /// The sessions it was queued on.
        recipients: Vec<String>,
        /// Always `"queued"`: the message is in the outbox (PROTOCOL.md §8.1).
        state: String,
        /// The message it replies to (quoted from our history).
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_to: Option<QuoteInfo>,
        /// Its `seq` in our history (absent when it went to nobody and was not stored).
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<i64>,
        /// A file message's file (PROTOCOL.md §8.11); boxed, so chats do not pay for it.
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<Box<FileInfo>>,
    },
    /// The sender edited a message (PROTOCOL.md §8.7).
    MessageEdited {
        /// The message's conversation.
        conversation: String,
        /// Its sender: a peer_id or `"me"`.
        from: String,
        /// Its id.
        id: String,
        /// The new text (untrusted: render as text).
        text: String,
        /// The sender's clock when it edited it.
        edited_at: u64,
    },
    /// The sender deleted a message for everyone (PROTOCOL.md §8.7).
    MessageUnsent {
        /// The message's conversation.
        conversation: String,
        /// Its sender: a peer_id or `"me"`.
        from: String,
        /// Its id.
        id: String,
    },
    /// Someone's reaction to a message changed (PROTOCOL.md §8.6).
    Reaction {
        /// The message's conversation.
        conversation: String,
        /// The message's sender: a peer_id or `"me"`.
        from: String,
        /// The message's id.
        id: String,
        /// Who reacted: a peer_id or `"me"`.
        by: String,
        /// The emoji now; null once withdrawn.
        emoji: Option<String>,
    },
    /// A peer's verified flag changed.
    PeerVerified {
        /// The peer.
        peer_id: String,
        /// New value.
        verified: bool,
    },
    /// An action failed.
    Error {
        /// What went wrong.
        message: String,
        /// The action that caused it, if known.
        #[serde(skip_serializing_if = "Option::is_none")]
        action: Option<String>,
        /// The action's `req`, copied.
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<Value>,
        /// What kind of failure, for the page to put in plain words (PROTOCOL.md §8.1); absent
        /// for errors that have no code yet.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<&'static str>,
        /// The address a failed dial was aimed at, with a `code`.
        #[serde(skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    /// Our user set or cleared a contact's local nickname (`set_nickname`, PROTOCOL.md §8.1).
    NicknameSet {
        /// The contact.
        peer_id: String,
        /// The nickname as saved (cleaned), or null when cleared.
        nickname: Option<String>,
        /// Other contacts whose names are equal or confusable with the nickname (PROTOCOL.md
        /// §8.3); empty when cleared.
        confusable_with: Vec<String>,
    },
    /// A connected contact announced a new display name (a `name` payload, PROTOCOL.md §5).
    PeerRenamed {
        /// The contact.
        peer_id: String,
        /// Its new name (as announced; the page shows a local nickname instead, if set).
        name: String,
        /// Other contacts whose names are equal or confusable with the new one (PROTOCOL.md §8.3).
        confusable_with: Vec<String>,
    },
    /// One of our messages advanced (`queued` → `sent` → `delivered`), or in a room one
    /// member's copy of it did (PROTOCOL.md §8.1).
    Delivery {
        /// Our message id.
        id: String,
        /// The state the message as a whole shows now.
        state: String,
        /// A room message: the member whose own state changed (one event per change).
        #[serde(skip_serializing_if = "Option::is_none")]
        peer_id: Option<String>,
        /// A room message: that member's state now (`sent` or `delivered`).
        #[serde(skip_serializing_if = "Option::is_none")]
        peer_state: Option<&'static str>,
    },
    /// A known contact answered with a different key; its session is held.
    KeyChanged {
        /// Resolve with `accept_key_change` / `reject_key_change`.
        change_id: i64,
        /// The contact's old key.
        peer_id: String,
        /// The key that answered.
        new_key: String,
        /// The name it announced.
        name: String,
        /// Where it answered (dialable address), if known.
        address: Option<String>,
        /// Whether the old key was verified.
        was_verified: bool,
    },
    /// Our invite.
    Invite {
        /// `p2p-chat://host:port/key`.
        invite: String,
        /// The invite as an SVG QR code.
        qr_svg: String,
    },
    /// Every current contact.
    Contacts {
        /// The contacts.
        contacts: Vec<ContactInfo>,
    },
    /// A room we are in.
    Room {
        /// `room:<id>`.
        id: String,
        /// Display name.
        name: String,
        /// Members' peer_ids, ourselves included.
        members: Vec<String>,
        /// The creator's peer_id (possibly ours); null for a room from an earlier version
        /// whose creator is not known yet.
        creator: Option<String>,
        /// False once the creator removed us: the room is then read-only.
        member: bool,
        /// Members' display names where known (peer_id -> name): a contact's own name, else
        /// the one the creator gave it. Display only, never an identity.
        names: std::collections::BTreeMap<String, String>,
        /// The room's disappearing-message timer, seconds; 0 = off.
        timer: u64,
    },
    /// The creator changed a room's name or membership (PROTOCOL.md §8.4).
    RoomChange {
        /// `room:<id>`.
        room: String,
        /// The creator's peer_id.
        by: String,
        /// When we applied it, Unix ms.
        at: u64,
        /// Members added (peer_ids).
        added: Vec<String>,
        /// Members removed (peer_ids).
        removed: Vec<String>,
        /// The new name, or null if unchanged.
        name: Option<String>,
    },
    /// A page of a conversation's history.
    History {
        /// The conversation id.
        conversation: String,
        /// Oldest first.
        messages: Vec<HistoryEntry>,
        /// Whether older messages exist.
        has_more: bool,
        /// Answering `history_around`: the `seq` of the message the page is centred on.
        #[serde(skip_serializing_if = "Option::is_none")]
        around: Option<i64>,
        /// Answering `history_around`: whether newer messages exist after the page.
        #[serde(skip_serializing_if = "Option::is_none")]
        has_newer: Option<bool>,
        /// The conversation's disappearing-message timer, seconds (0 = off); absent where
        /// there is none ("everyone", requests).
        #[serde(skip_serializing_if = "Option::is_none")]
        timer: Option<u64>,
        /// Answering `load_history` with `after`: that `seq` (the page holds newer messages,
        /// and `has_newer` says whether even newer ones exist).
        #[serde(skip_serializing_if = "Option::is_none")]
        after: Option<i64>,
        /// Answering `load_history` with `before`: that `seq`, so a client can tell the page
        /// from an answer to a request it made before showing another part of the conversation.
        #[serde(skip_serializing_if = "Option::is_none")]
        before: Option<i64>,
    },
    /// The answer to `search` (to the asking client only).
    SearchResults {
        /// The query, as sent.
        query: String,
        /// The conversation searched, or null for all.
        conversation: Option<String>,
        /// Newest first.
        results: Vec<SearchResult>,
        /// More messages match than were returned.
        more: bool,
    },
    /// A message was deleted on this device (`delete_message`).
    MessageDeleted {
        /// Its conversation.
        conversation: String,
        /// Its id.
        id: String,
        /// `"me"` or the sender's peer_id, as the action named it; null: every message with
        /// that id in the conversation.
        from: Option<String>,
        /// `"expired"` when its disappearing-message timer ran out; absent for a user's delete.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'static str>,
    },
    /// A conversation's disappearing-message timer changed (PROTOCOL.md §8.8).
    Timer {
        /// The conversation (a peer_id or `room:<id>`).
        conversation: String,
        /// Seconds each new message lives; 0 = off.
        seconds: u64,
        /// Who set it: `"me"` or a peer_id.
        by: String,
        /// When it was set, Unix ms.
        set_at: u64,
    },
    /// A conversation's history was deleted on this device (`delete_conversation`).
    ConversationDeleted {
        /// The conversation.
        conversation: String,
        /// How many messages were deleted.
        deleted: usize,
    },
    /// Internal (not sent as such): the contact list changed. Each UI client answers it with a
    /// fresh `contacts` listing of its own, so the event ring never holds whole listings.
    /// A message request was created or changed.
    Request(RequestInfo),
    /// Every message request.
    Requests {
        /// Most recently seen first.
        requests: Vec<RequestInfo>,
    },
    /// A request was accepted, blocked or expired.
    RequestResolved {
        /// The key.
        peer_id: String,
        /// `accepted`, `blocked` or `expired`.
        outcome: &'static str,
    },
    /// A key was blocked or unblocked.
    Blocked {
        /// The key.
        peer_id: String,
        /// Whether it is blocked now.
        blocked: bool,
    },
    /// Everyone announcing themselves on our LAN now (PROTOCOL.md §8.9).
    Nearby {
        /// By name, then key; at most `crate::reach::nearby::MAX_NEARBY`.
        people: Vec<crate::reach::nearby::NearbyPerson>,
    },
    /// A contact started or stopped typing in a conversation (PROTOCOL.md §8.10): one event per
    /// change.
    Typing {
        /// The contact's chat (its peer_id) or `room:<id>`.
        conversation: String,
        /// Who.
        peer_id: String,
        /// Typing now, or stopped.
        active: bool,
    },
    /// A reader has read our messages in a conversation up to our message `id` (PROTOCOL.md
    /// §8.10): one event per move of its mark.
    Read {
        /// The conversation (a peer_id or `room:<id>`).
        conversation: String,
        /// The reader.
        peer_id: String,
        /// Our newest message it has read.
        id: String,
        /// When we got the receipt, Unix ms.
        read_at: u64,
    },
    /// The typing-indicator and read-receipt settings (PROTOCOL.md §8.10).
    Indicators {
        /// Typing indicators for contacts without an override.
        typing: bool,
        /// Read receipts for contacts without an override.
        read_receipts: bool,
        /// Contacts' overrides, peer_id -> the two settings (null: as the global one).
        contacts: std::collections::BTreeMap<String, IndicatorOverrideInfo>,
    },
    /// A file transfer moved or changed state (PROTOCOL.md §8.11); boxed, so the event every
    /// session may hold stays small.
    FileProgress(Box<FileProgressInfo>),
    /// The known addresses of one contact (the answer to `contact_addresses`).
    ContactAddresses {
        /// The contact.
        peer_id: String,
        /// Most recently useful first (the order redials try them in).
        addresses: Vec<ContactAddressInfo>,
    },
    /// How an introduction we asked for is going (PROTOCOL.md §7.2, §8.12).
    Introduction {
        /// The key we want to reach.
        peer_id: String,
        /// The contact asked to introduce us; null once every one was tried.
        via: Option<String>,
        /// `asked`, `accepted`, `declined`, `not_connected`, `refused`, `busy`,
        /// `no_answer`, `connected`, `failed` or `no_introducer`.
        state: &'static str,
    },
    #[serde(rename = "internal_contacts_changed")]
    ContactsChanged,
    /// Internal (not sent to the UI): the remote acknowledged message `id`.
    #[serde(rename = "internal_delivered")]
    Delivered {
        /// Who acknowledged.
        peer_id: String,
        /// The acknowledged id.
        id: String,
    },
    /// This UI client fell further behind than the event queue holds: `dropped` events were
    /// lost for it. The connect snapshot follows; the page reloads what it shows from history
    /// (PROTOCOL.md §8).
    Resync {
        /// How many events it missed.
        dropped: u64,
    },
}

impl Event {
    /// Whether this event belongs to the UI protocol (internal events are filtered out).
    pub fn is_for_ui(&self) -> bool {
        !matches!(self, Event::Delivered { .. } | Event::ContactsChanged)
    }

    /// An `error` event.
    pub fn error(message: impl Into<String>, action: Option<&str>, req: Option<Value>) -> Self {
        Event::Error {
            message: message.into(),
            action: action.map(str::to_owned),
            req,
            code: None,
            address: None,
        }
    }

    /// An `error` event for a failed dial, with its typed `code` and target address.
    pub fn dial_error(error: &crate::node::ConnectError, action: &str, req: Option<Value>) -> Self {
        Event::Error {
            message: error.to_string(),
            action: Some(action.to_owned()),
            req,
            code: Some(error.code()),
            address: error.address(),
        }
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
