//! Sockets and the server process: spread source addresses, WebSocket dialing, fd limit, RSS/CPU.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use chat_shared::{ClientMsg, ServerMsg};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Ws = WebSocketStream<TcpStream>;

/// Opens client sockets round-robin from 127.0.0.1, 127.0.0.2, … so that each source address
/// has its own ephemeral port range (about 28k ports each on Linux's default range).
pub struct Dialer {
    server: SocketAddr,
    sources: Vec<IpAddr>,
    next: AtomicUsize,
}

impl Dialer {
    /// `sources` loopback addresses (1–250); only meaningful against a loopback server.
    pub fn new(server: SocketAddr, sources: u8) -> Dialer {
        let sources = if server.ip().is_loopback() && server.is_ipv4() {
            (1..=sources.clamp(1, 250))
                .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
                .collect()
        } else {
            Vec::new()
        };
        Dialer {
            server,
            sources,
            next: AtomicUsize::new(0),
        }
    }

    /// A TCP connection to the server, bound first to the next source address.
    pub async fn tcp(&self) -> std::io::Result<TcpStream> {
        let socket = if self.server.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if !self.sources.is_empty() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.sources.len();
            defer_port_choice(&socket)?;
            socket.bind(SocketAddr::new(self.sources[i], 0))?;
        }
        let stream = socket.connect(self.server).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// An open chat WebSocket for `token` (the upgrade done; authentication not yet confirmed).
    pub async fn ws(&self, token: &str) -> anyhow::Result<Ws> {
        let stream = self.tcp().await.context("TCP connect")?;
        let url = format!("ws://{}/ws/chat/?token={token}", self.server);
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(url, stream, Some(client_config()))
                .await
                .context("WebSocket upgrade")?;
        Ok(ws)
    }
}

/// Lets `connect` choose the local port (`IP_BIND_ADDRESS_NO_PORT`) of a socket bound to a source
/// address. Otherwise `bind` must pick a port no socket on that address uses, connections in
/// TIME_WAIT included, without knowing the destination: after a run of short connections (100k
/// handshakes leave 100k sockets in TIME_WAIT for a minute) that search made handshakes 20 times
/// slower. `connect` only needs the whole address quadruple to be free.
fn defer_port_choice(socket: &TcpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, and an option value of the size given.
    let status = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Small buffers: the load generator may hold 100k sockets itself.
pub fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

/// Sends one protocol frame.
pub async fn send(ws: &mut Ws, msg: &ClientMsg) -> anyhow::Result<()> {
    let text = serde_json::to_string(msg)?;
    ws.send(Message::text(text)).await?;
    Ok(())
}

/// The next protocol frame; an error on close (with its code), a socket error or a bad frame.
pub async fn recv<S>(stream: &mut S) -> anyhow::Result<ServerMsg>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str())
                    .with_context(|| format!("unreadable frame {text}"));
            }
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code));
                bail!("closed by the server (code {code:?})")
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("connection ended"),
        }
    }
}

/// Sends `msg`, then waits (at most `timeout`) for the first frame `pick` accepts, skipping others.
pub async fn request<T>(
    ws: &mut Ws,
    msg: &ClientMsg,
    timeout: Duration,
    mut pick: impl FnMut(ServerMsg) -> Option<T>,
) -> anyhow::Result<T> {
    send(ws, msg).await?;
    tokio::time::timeout(timeout, async {
        loop {
            match recv(ws).await? {
                ServerMsg::Error { code, message, .. } => bail!("chat.error {code:?}: {message}"),
                other => {
                    if let Some(found) = pick(other) {
                        return Ok(found);
                    }
                }
            }
        }
    })
    .await
    .context("no answer in time")?
}

/// Confirms the socket is authenticated: an empty search is answered with no database work,
/// while a refused token gets close code 4001 instead.
pub async fn confirm(ws: &mut Ws, timeout: Duration) -> anyhow::Result<()> {
    let search = ClientMsg::SearchUser {
        keyword: String::new(),
    };
    request(ws, &search, timeout, |m| {
        matches!(m, ServerMsg::SearchResults { .. }).then_some(())
    })
    .await
}

/// Raises this process's open-file limit to `want` (the hard limit too, when root).
pub fn raise_fd_limit(want: u64) -> anyhow::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read or write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            bail!("getrlimit: {}", std::io::Error::last_os_error());
        }
        if lim.rlim_cur >= want {
            return Ok(lim.rlim_cur);
        }
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max.max(want),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return Ok(want);
        }
        let soft = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &soft) != 0 {
            bail!("setrlimit: {}", std::io::Error::last_os_error());
        }
        Ok(lim.rlim_max)
    }
}

/// Resident memory of process `pid` in KiB, from `/proc/PID/smaps_rollup`.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_rss(&text).with_context(|| format!("no Rss line in {path}"))
}

fn parse_rss(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("Rss:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system) process `pid` has used so far.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_stat_ticks(&text).with_context(|| format!("unreadable {path}"))?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_micros(ticks * 1_000_000 / hz))
}

/// utime + stime: fields 14 and 15, counted after the `)` closing the command name.
fn parse_stat_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_from_smaps_rollup() {
        let text =
            "55d0-7ffd ---p 00000000 00:00 0   [rollup]\nRss:              123456 kB\nPss:  1 kB\n";
        assert_eq!(parse_rss(text), Some(123456));
        assert_eq!(parse_rss("Pss: 1 kB\n"), None);
    }

    #[test]
    fn reads_cpu_ticks_even_with_spaces_in_the_name() {
        let stat = "42 (tokio (rt) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0";
        assert_eq!(parse_stat_ticks(stat), Some(300));
    }

    #[test]
    fn own_process_is_measurable() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(cpu_time(pid).is_ok());
    }

    #[tokio::test]
    async fn dialer_spreads_source_addresses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dialer = Dialer::new(listener.local_addr().unwrap(), 3);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let _client = dialer.tcp().await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            seen.push(peer.ip());
        }
        seen.sort();
        let want: Vec<IpAddr> = (1..=3)
            .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
            .collect();
        assert_eq!(seen, want);
    }
}
