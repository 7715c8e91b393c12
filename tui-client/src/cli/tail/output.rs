//! Standard output for a command that runs until it is stopped: a line at a time, flushed; and
//! the two ways it stops without an error: Ctrl-C, or the reader of its output going away
//! (`chat tail | head -1`), noticed even while nothing is being written.

use std::io::{self, Write};

/// Why following stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Interrupted,
    OutputClosed,
}

/// Writes one line and flushes it, so that a reader sees each event as it happens.
pub(super) fn write_line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// Whether `error` is a write to an output whose reader has gone (EPIPE: Rust ignores
/// SIGPIPE, so the write fails instead of killing the process).
pub(super) fn is_output_closed(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Tells the person something on standard error (a notice, not the output); a closed
/// standard error is no reason to stop.
pub(super) fn notice(text: &str) {
    let _ = writeln!(io::stderr(), "chat: {text}");
}

/// Waits for Ctrl-C (SIGINT) or for standard output's reader to go away.
pub(super) async fn stopped() -> Stop {
    tokio::select! {
        Ok(()) = tokio::signal::ctrl_c() => Stop::Interrupted,
        () = output_gone() => Stop::OutputClosed,
    }
}

/// Returns once standard output is a pipe or terminal whose other end has closed; never
/// for a file, or where that cannot be told.
async fn output_gone() {
    let (gone, went) = tokio::sync::oneshot::channel();
    // A thread of its own, not the runtime's blocking pool: it blocks until the process
    // ends, and the runtime waits for its pool's threads when it shuts down.
    std::thread::spawn(move || {
        if hangs_up() {
            let _ = gone.send(());
        }
    });
    if went.await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Blocks until standard output reports an error or hang-up: poll(2) reports both whatever
/// events are asked, and a pipe's writing end gets POLLERR once no reader is left.
#[cfg(unix)]
fn hangs_up() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd that outlives the call.
        let ready = unsafe { libc::poll(&mut fd, 1, -1) };
        if ready > 0 {
            return fd.revents & (libc::POLLERR | libc::POLLHUP) != 0;
        }
        if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return false;
        }
    }
}

#[cfg(not(unix))]
fn hangs_up() -> bool {
    false
}
