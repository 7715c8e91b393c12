//! WebSocket close codes the chat uses: the standard ones (RFC 6455, section 7.4.1) and the
//! application's own (4000–4999), in one place for the server and every client.

/// The server is stopping, or the peer stopped answering pings: reconnect.
pub const GOING_AWAY: u16 = 1001;
/// A policy was broken (the rate limit abused, too many connections): do not reconnect in a loop.
pub const POLICY: u16 = 1008;
/// A message over the size limit: do not resend it.
pub const TOO_BIG: u16 = 1009;
/// The server cannot serve this connection now (it read too slowly, or the token could not be
/// checked): reconnect after a pause.
pub const TRY_AGAIN_LATER: u16 = 1013;
/// The token is missing, invalid, expired or revoked, its session ended (logout, a password
/// change, a reused refresh token), or its user is gone: refresh it or log in again.
pub const UNAUTHORIZED: u16 = 4001;
