//! REST calls to the server: register, log in, refresh, who am I; and the WebSocket URL.
