//! Opening a web address in the desktop's browser, through its opener (`xdg-open`, `open` on
//! macOS). The opener runs detached: without the terminal's input and output (they belong to
//! the UI), in its own process group (keys meant for the UI send it no signal), and the UI
//! never waits for it.

use std::process::{Command, Stdio};

/// The program that opens links here.
pub const OPENER: &str = if cfg!(target_os = "macos") {
    "open"
} else {
    "xdg-open"
};

/// Starts the opener on `url` (an `http(s)://` address: never read as an option) and returns
/// at once; an error means it could not be started (not installed, say).
pub fn open(url: &str) -> std::io::Result<()> {
    let mut command = Command::new(OPENER);
    command
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn()?;
    // Reaped on a thread of its own, so that it never lingers as a zombie; how the opener
    // fares afterwards (no browser, say) is its own to report.
    std::thread::spawn(move || child.wait());
    Ok(())
}
