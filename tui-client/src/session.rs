//! Settings and the stored refresh token, in the XDG config directory (mode 0600).
