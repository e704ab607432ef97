//! The endpoint templates: spec v1.16 server-server and key APIs.
//!
//! <https://spec.matrix.org/v1.16/server-server-api/>

use super::{BodyClass, Param};

/// Every allowed endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    /// `PUT /_matrix/federation/v1/send/{txnId}`
    Send,
    /// `GET /_matrix/federation/v1/event/{eventId}`
    Event,
    /// `GET /_matrix/federation/v1/state/{roomId}`
    State,
    /// `GET /_matrix/federation/v1/state_ids/{roomId}`
    StateIds,
    /// `GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}`
    EventAuth,
    /// `GET /_matrix/federation/v1/backfill/{roomId}`
    Backfill,
    /// `POST /_matrix/federation/v1/get_missing_events/{roomId}`
    GetMissingEvents,
    /// `GET /_matrix/federation/v1/make_join/{roomId}/{userId}`
    MakeJoin,
    /// `PUT /_matrix/federation/v1/send_join/{roomId}/{eventId}` (legacy)
    SendJoinV1,
    /// `PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}`
    SendJoinV2,
    /// `GET /_matrix/federation/v1/make_leave/{roomId}/{userId}`
    MakeLeave,
    /// `PUT /_matrix/federation/v1/send_leave/{roomId}/{eventId}` (legacy)
    SendLeaveV1,
    /// `PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}`
    SendLeaveV2,
    /// `GET /_matrix/federation/v1/make_knock/{roomId}/{userId}`
    MakeKnock,
    /// `PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}`
    SendKnock,
    /// `PUT /_matrix/federation/v1/invite/{roomId}/{eventId}` (legacy)
    InviteV1,
    /// `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}`
    InviteV2,
    /// `PUT /_matrix/federation/v1/exchange_third_party_invite/{roomId}`
    ExchangeThirdPartyInvite,
    /// `PUT /_matrix/federation/v1/3pid/onbind` (unsigned: identity servers)
    ThreePidOnbind,
    /// `GET /_matrix/federation/v1/query/directory`
    QueryDirectory,
    /// `GET /_matrix/federation/v1/query/profile`
    QueryProfile,
    /// `GET /_matrix/federation/v1/query/{queryType}`
    Query,
    /// `GET /_matrix/federation/v1/user/devices/{userId}`
    UserDevices,
    /// `POST /_matrix/federation/v1/user/keys/query`
    UserKeysQuery,
    /// `POST /_matrix/federation/v1/user/keys/claim`
    UserKeysClaim,
    /// `GET /_matrix/federation/v1/publicRooms`
    PublicRoomsGet,
    /// `POST /_matrix/federation/v1/publicRooms`
    PublicRoomsPost,
    /// `GET /_matrix/federation/v1/hierarchy/{roomId}`
    Hierarchy,
    /// `GET /_matrix/federation/v1/openid/userinfo` (unsigned: access token)
    OpenidUserinfo,
    /// `GET /_matrix/federation/v1/timestamp_to_event/{roomId}`
    TimestampToEvent,
    /// `GET /_matrix/federation/v1/media/download/{mediaId}`
    MediaDownload,
    /// `GET /_matrix/federation/v1/media/thumbnail/{mediaId}`
    MediaThumbnail,
    /// `GET /_matrix/federation/v1/version` (unsigned)
    Version,
    /// `GET /_matrix/key/v2/server` (unsigned)
    KeyServer,
    /// `GET /_matrix/key/v2/server/{keyId}` (removed in v1.6; unsigned)
    KeyServerLegacy,
    /// `GET /_matrix/key/v2/query/{serverName}` (unsigned)
    KeyQuery,
    /// `GET /_matrix/key/v2/query/{serverName}/{keyId}` (legacy; unsigned)
    KeyQueryLegacy,
    /// `POST /_matrix/key/v2/query` (unsigned)
    KeyQueryBatch,
}

impl EndpointKind {
    /// Stable metric class: `send`, `event`, `state`, `backfill`, `join`,
    /// `leave`, `knock`, `invite`, `third_party_invite`, `query`, `user_keys`,
    /// `public_rooms`, `hierarchy`, `openid`, `media`, `version`, `key`.
    pub fn class(self) -> &'static str {
        use EndpointKind::*;
        match self {
            Send => "send",
            Event | EventAuth | TimestampToEvent => "event",
            State | StateIds => "state",
            Backfill | GetMissingEvents => "backfill",
            MakeJoin => "make_join",
            SendJoinV1 | SendJoinV2 => "send_join",
            MakeLeave | SendLeaveV1 | SendLeaveV2 => "leave",
            MakeKnock | SendKnock => "knock",
            InviteV1 | InviteV2 => "invite",
            ExchangeThirdPartyInvite | ThreePidOnbind => "third_party_invite",
            QueryDirectory | QueryProfile | Query => "query",
            UserDevices | UserKeysQuery | UserKeysClaim => "user_keys",
            PublicRoomsGet | PublicRoomsPost | Hierarchy => "directory",
            OpenidUserinfo => "openid",
            MediaDownload | MediaThumbnail => "media",
            Version => "version",
            KeyServer | KeyServerLegacy | KeyQuery | KeyQueryLegacy | KeyQueryBatch => "key",
        }
    }

    /// Whether the endpoint requires an X-Matrix signature. Unsigned: the
    /// version and key APIs, `openid/userinfo` and `3pid/onbind`.
    pub fn signed(self) -> bool {
        use EndpointKind::*;
        !matches!(
            self,
            Version
                | KeyServer
                | KeyServerLegacy
                | KeyQuery
                | KeyQueryLegacy
                | KeyQueryBatch
                | OpenidUserinfo
                | ThreePidOnbind
        )
    }

    /// How the request body is treated.
    pub fn body(self) -> BodyClass {
        use EndpointKind::*;
        match self {
            Send => BodyClass::Transaction,
            MediaDownload | MediaThumbnail => BodyClass::Media,
            GetMissingEvents
            | SendJoinV1
            | SendJoinV2
            | SendLeaveV1
            | SendLeaveV2
            | SendKnock
            | InviteV1
            | InviteV2
            | ExchangeThirdPartyInvite
            | ThreePidOnbind
            | UserKeysQuery
            | UserKeysClaim
            | PublicRoomsPost
            | KeyQueryBatch => BodyClass::Json,
            _ => BodyClass::Empty,
        }
    }
}

/// One segment of a template.
pub(super) enum Seg {
    /// Must equal the raw segment byte for byte.
    Lit(&'static str),
    /// Any one (checked) raw segment, captured.
    Param(Param),
}

/// One allowed method + path template.
pub(super) struct Template {
    pub(super) method: &'static str,
    pub(super) segments: &'static [Seg],
    pub(super) kind: EndpointKind,
}

use EndpointKind as K;
use Param as P;
use Seg::{Lit as L, Param as V};

const F: Seg = L("_matrix");
const FED: Seg = L("federation");
const V1: Seg = L("v1");
const V2: Seg = L("v2");
const KEY: Seg = L("key");

macro_rules! t {
    ($method:literal, $kind:expr, [$($seg:expr),* $(,)?]) => {
        Template { method: $method, kind: $kind, segments: &[$($seg),*] }
    };
}

/// The templates, most specific first (`query/directory` before `query/{queryType}`).
pub(super) static TEMPLATES: &[Template] = &[
    t!("PUT", K::Send, [F, FED, V1, L("send"), V(P::TxnId)]),
    t!("GET", K::Event, [F, FED, V1, L("event"), V(P::EventId)]),
    t!("GET", K::State, [F, FED, V1, L("state"), V(P::RoomId)]),
    t!(
        "GET",
        K::StateIds,
        [F, FED, V1, L("state_ids"), V(P::RoomId)]
    ),
    t!(
        "GET",
        K::EventAuth,
        [F, FED, V1, L("event_auth"), V(P::RoomId), V(P::EventId)]
    ),
    t!(
        "GET",
        K::Backfill,
        [F, FED, V1, L("backfill"), V(P::RoomId)]
    ),
    t!(
        "POST",
        K::GetMissingEvents,
        [F, FED, V1, L("get_missing_events"), V(P::RoomId)]
    ),
    t!(
        "GET",
        K::MakeJoin,
        [F, FED, V1, L("make_join"), V(P::RoomId), V(P::UserId)]
    ),
    t!(
        "PUT",
        K::SendJoinV1,
        [F, FED, V1, L("send_join"), V(P::RoomId), V(P::EventId)]
    ),
    t!(
        "PUT",
        K::SendJoinV2,
        [F, FED, V2, L("send_join"), V(P::RoomId), V(P::EventId)]
    ),
    t!(
        "GET",
        K::MakeLeave,
        [F, FED, V1, L("make_leave"), V(P::RoomId), V(P::UserId)]
    ),
    t!(
        "PUT",
        K::SendLeaveV1,
        [F, FED, V1, L("send_leave"), V(P::RoomId), V(P::EventId)]
    ),
    t!(
        "PUT",
        K::SendLeaveV2,
        [F, FED, V2, L("send_leave"), V(P::RoomId), V(P::EventId)]
    ),
    t!(
        "GET",
        K::MakeKnock,
        [F, FED, V1, L("make_knock"), V(P::RoomId), V(P::UserId)]
    ),
    t!(
        "PUT",
        K::SendKnock,
        [F, FED, V1, L("send_knock"), V(P::RoomId), V(P::EventId)]
    ),
    t!(
        "PUT",
        K::InviteV1,
        [F, FED, V1, L("invite"), V(P::RoomId), V(P::EventId)]
    ),
    t!(
        "PUT",
        K::InviteV2,
        [F, FED, V2, L("invite"), V(P::RoomId), V(P::EventId)]
    ),
    t!(
        "PUT",
        K::ExchangeThirdPartyInvite,
        [F, FED, V1, L("exchange_third_party_invite"), V(P::RoomId)]
    ),
    t!(
        "PUT",
        K::ThreePidOnbind,
        [F, FED, V1, L("3pid"), L("onbind")]
    ),
    t!(
        "GET",
        K::QueryDirectory,
        [F, FED, V1, L("query"), L("directory")]
    ),
    t!(
        "GET",
        K::QueryProfile,
        [F, FED, V1, L("query"), L("profile")]
    ),
    t!("GET", K::Query, [F, FED, V1, L("query"), V(P::QueryType)]),
    t!(
        "GET",
        K::UserDevices,
        [F, FED, V1, L("user"), L("devices"), V(P::UserId)]
    ),
    t!(
        "POST",
        K::UserKeysQuery,
        [F, FED, V1, L("user"), L("keys"), L("query")]
    ),
    t!(
        "POST",
        K::UserKeysClaim,
        [F, FED, V1, L("user"), L("keys"), L("claim")]
    ),
    t!("GET", K::PublicRoomsGet, [F, FED, V1, L("publicRooms")]),
    t!("POST", K::PublicRoomsPost, [F, FED, V1, L("publicRooms")]),
    t!(
        "GET",
        K::Hierarchy,
        [F, FED, V1, L("hierarchy"), V(P::RoomId)]
    ),
    t!(
        "GET",
        K::OpenidUserinfo,
        [F, FED, V1, L("openid"), L("userinfo")]
    ),
    t!(
        "GET",
        K::TimestampToEvent,
        [F, FED, V1, L("timestamp_to_event"), V(P::RoomId)]
    ),
    t!(
        "GET",
        K::MediaDownload,
        [F, FED, V1, L("media"), L("download"), V(P::MediaId)]
    ),
    t!(
        "GET",
        K::MediaThumbnail,
        [F, FED, V1, L("media"), L("thumbnail"), V(P::MediaId)]
    ),
    t!("GET", K::Version, [F, FED, V1, L("version")]),
    t!("GET", K::KeyServer, [F, KEY, V2, L("server")]),
    t!(
        "GET",
        K::KeyServerLegacy,
        [F, KEY, V2, L("server"), V(P::KeyId)]
    ),
    t!(
        "GET",
        K::KeyQuery,
        [F, KEY, V2, L("query"), V(P::ServerName)]
    ),
    t!(
        "GET",
        K::KeyQueryLegacy,
        [F, KEY, V2, L("query"), V(P::ServerName), V(P::KeyId)]
    ),
    t!("POST", K::KeyQueryBatch, [F, KEY, V2, L("query")]),
];
