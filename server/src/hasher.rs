//! Password hashing (argon2id, PHC strings) on a few dedicated threads: at most `--hash-workers`
//! hashes run at once and at most `--hash-queue` wait; a request beyond that is refused at once
//! ([`HashError::Busy`], answered 503) instead of being given a thread of its own.
//!
//! Each worker hashes in its own anonymous memory mapping, reused while work keeps coming and
//! unmapped once the worker has been idle for [`IDLE_RELEASE`]: the allocator would keep freed
//! 19 MiB blocks in per-thread arenas for good, an unmapped mapping goes back to the system.

use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use flume::{RecvTimeoutError, TrySendError};
use memmap2::MmapMut;
use tokio::sync::oneshot;

/// How long an idle worker keeps its memory mapped, so that a burst does not map it per hash.
pub const IDLE_RELEASE: Duration = Duration::from_secs(2);

/// What a refused request is told to wait (`Retry-After`): a full queue drains in well under a
/// second with the default sizes.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Largest argon2 memory a stored hash may ask for (256 MiB, in KiB): the worker maps that much
/// to verify it, so a hash from elsewhere with a huge `m` must not take the server's memory.
const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// The PHC string an unknown username is checked against, with the default parameters, so that
/// a login for a name that does not exist costs what a real one costs.
const PLACEHOLDER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$dW5rbm93bi11c2VyLXNhbHQ$m3iotNR42Zhkwh2mLYoSTBE+WYd6J25RcAkpqN1c4UQ";

/// Why a hash or a verification did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every worker is busy and the wait queue is full.
    #[error("every password hasher is busy")]
    Busy,
    #[error("hashing a password: {0}")]
    Failed(String),
}

/// A handle on the hashing workers; cheap to clone. The workers stop when the last handle is
/// dropped (their queue closes), after the jobs already taken.
#[derive(Clone)]
pub struct Hasher {
    jobs: flume::Sender<Job>,
}

enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<Result<String, HashError>>,
    },
    Verify {
        password: String,
        hash: Option<String>,
        reply: oneshot::Sender<bool>,
    },
}

impl Hasher {
    /// Starts `workers` threads (at least one) with room for `queue` waiting jobs.
    pub fn start(workers: usize, queue: usize) -> std::io::Result<Hasher> {
        let (jobs, incoming) = flume::bounded(queue);
        for i in 0..workers.max(1) {
            let incoming = incoming.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(incoming))?;
        }
        Ok(Hasher { jobs })
    }

    /// An argon2id PHC string for `password`, with a new random salt and the default parameters.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password, reply })?;
        answer
            .await
            .map_err(|_| HashError::Failed("the hashing worker stopped".into()))?
    }

    /// Whether `password` matches the PHC string `hash`; with `None` (no such account), the
    /// same work against a placeholder, and `false`.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password,
            hash,
            reply,
        })?;
        answer
            .await
            .map_err(|_| HashError::Failed("the hashing worker stopped".into()))
    }

    fn submit(&self, job: Job) -> Result<(), HashError> {
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => HashError::Busy,
            TrySendError::Disconnected(_) => HashError::Failed("no hashing worker".into()),
        })
    }
}

/// Niceness of the hashing threads: a hash waits a little longer, chat frames do not wait behind
/// a core's worth of argon2.
#[cfg(target_os = "linux")]
const NICENESS: libc::c_int = 10;

/// One worker: takes jobs until the queue closes, keeping its memory only while busy.
fn work(incoming: flume::Receiver<Job>) {
    // SAFETY: setpriority has no memory preconditions; on Linux, `who = 0` with PRIO_PROCESS
    // names the calling thread only (nice is per thread there).
    #[cfg(target_os = "linux")]
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICENESS) } != 0 {
        tracing::debug!("hashing thread priority not lowered");
    }
    let mut memory: Option<Memory> = None;
    loop {
        let job = if memory.is_some() {
            match incoming.recv_timeout(IDLE_RELEASE) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    memory = None;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match incoming.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        match job {
            // A request whose client went away while it waited is not worth a hash.
            Job::Hash { reply, .. } if reply.is_closed() => {}
            Job::Verify { reply, .. } if reply.is_closed() => {}
            Job::Hash { password, reply } => {
                let _ = reply.send(hash(password.as_bytes(), &mut memory));
            }
            Job::Verify {
                password,
                hash,
                reply,
            } => {
                let known = hash.is_some();
                let stored = hash.as_deref().unwrap_or(PLACEHOLDER_HASH);
                let matches =
                    verify(password.as_bytes(), stored, &mut memory).unwrap_or_else(|e| {
                        tracing::error!(error = %e, "a stored password hash cannot be checked");
                        false
                    });
                let _ = reply.send(known && matches);
            }
        }
    }
}

fn hash(password: &[u8], memory: &mut Option<Memory>) -> Result<String, HashError> {
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.as_salt().decode_b64(&mut salt_bytes).map_err(failed)?;
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = compute(&argon, password, salt_raw, output_len, memory)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Checks `password` against the PHC string `stored`, with the parameters it names.
fn verify(password: &[u8], stored: &str, memory: &mut Option<Memory>) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(stored).map_err(failed)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(HashError::Failed("no salt or no hash".into()));
    };
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(failed)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(failed)?;
    let params = Params::try_from(&parsed).map_err(failed)?;
    if params.m_cost() > MAX_MEMORY_KIB {
        return Err(HashError::Failed(format!(
            "m={} KiB is more than the {MAX_MEMORY_KIB} KiB allowed",
            params.m_cost()
        )));
    }
    let argon = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(failed)?;
    let computed = compute(&argon, password, salt_raw, expected.len(), memory)?;
    // `Output`'s equality is constant-time.
    Ok(computed == expected)
}

/// The argon2 output of `password` and `salt`, computed in the worker's memory.
fn compute(
    argon: &Argon2,
    password: &[u8],
    salt: &[u8],
    output_len: usize,
    memory: &mut Option<Memory>,
) -> Result<Output, HashError> {
    let blocks = Memory::at_least(memory, argon.params().block_count())
        .map_err(|e| HashError::Failed(format!("mapping argon2 memory: {e}")))?
        .blocks();
    Output::init_with(output_len, |out| {
        Ok(argon.hash_password_into_with_memory(password, salt, out, &mut *blocks)?)
    })
    .map_err(failed)
}

fn failed(e: impl std::fmt::Display) -> HashError {
    HashError::Failed(e.to_string())
}

/// A worker's argon2 blocks, in an anonymous mapping of their own.
struct Memory {
    map: MmapMut,
    blocks: usize,
}

impl Memory {
    /// The memory in `slot`, replaced by a larger mapping when it holds fewer than `blocks`.
    fn at_least(slot: &mut Option<Memory>, blocks: usize) -> std::io::Result<&mut Memory> {
        if slot.as_ref().is_some_and(|memory| memory.blocks < blocks) {
            *slot = None; // unmap the small one before mapping the large one
        }
        if slot.is_none() {
            let map = MmapMut::map_anon(blocks * std::mem::size_of::<Block>())?;
            *slot = Some(Memory { map, blocks });
        }
        Ok(slot.as_mut().expect("just filled"))
    }

    fn blocks(&mut self) -> &mut [Block] {
        const _: () = assert!(std::mem::size_of::<Block>() == Block::SIZE);
        // SAFETY: the mapping is page-aligned (more than `Block`'s 64), `blocks` blocks long,
        // and borrowed mutably for the slice's life; a `Block` is 128 `u64`s, valid for any
        // bytes (a fresh mapping is zeroed, like `Block::default()`).
        unsafe {
            std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast::<Block>(), self.blocks)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hashes_are_ordinary_argon2id_phc_strings() {
        let mut memory = None;
        let phc = hash(b"correct horse", &mut memory).unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert_eq!(parsed.algorithm, Algorithm::Argon2id.ident());
        assert_eq!(
            Params::try_from(&parsed).unwrap().m_cost(),
            Params::DEFAULT_M_COST
        );
        // The argon2 crate's own verifier accepts them, and only for the right password.
        let argon = Argon2::default();
        assert!(argon.verify_password(b"correct horse", &parsed).is_ok());
        assert!(argon.verify_password(b"correct horsf", &parsed).is_err());
        // Two hashes of one password differ (fresh salts).
        assert_ne!(phc, hash(b"correct horse", &mut memory).unwrap());
    }

    #[test]
    fn hashes_made_elsewhere_verify_in_reused_memory() {
        let mut memory = None;
        let salt = SaltString::generate(&mut OsRng);
        let default = Argon2::default()
            .hash_password(b"from before", &salt)
            .unwrap()
            .to_string();
        // Other parameters (and a larger memory than the default) verify too.
        let bigger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32 * 1024, 1, 2, Some(16)).unwrap(),
        )
        .hash_password(b"other params", &salt)
        .unwrap()
        .to_string();
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x10, Params::default())
            .hash_password(b"old kind", &salt)
            .unwrap()
            .to_string();
        for _ in 0..2 {
            assert!(verify(b"from before", &default, &mut memory).unwrap());
            assert!(!verify(b"from befor", &default, &mut memory).unwrap());
            assert!(verify(b"other params", &bigger, &mut memory).unwrap());
            assert!(!verify(b"from before", &bigger, &mut memory).unwrap());
            assert!(verify(b"old kind", &argon2i, &mut memory).unwrap());
        }
        assert!(verify(b"x", "not a phc string", &mut memory).is_err());
    }

    #[test]
    fn the_placeholder_costs_what_a_real_hash_costs() {
        let parsed = PasswordHash::new(PLACEHOLDER_HASH).unwrap();
        let real = hash(b"whatever", &mut None).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(parsed.algorithm, real.algorithm);
        assert_eq!(parsed.version, real.version);
        assert_eq!(parsed.params, real.params);
        assert_eq!(parsed.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
        assert!(verify(b"unknown user placeholder", PLACEHOLDER_HASH, &mut None).unwrap());
    }

    #[test]
    fn huge_memory_parameters_are_refused() {
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::new(MAX_MEMORY_KIB + 1024, 1, 1, None).unwrap();
        // Not computed: a PHC string naming the parameters, with a made-up output.
        let phc = format!(
            "$argon2id$v=19${}${}$hbGn5Y+WGa2xoh9qMw/PEqDqIoCi7ovvA01wBsl+aYQ",
            ParamsString::try_from(&params).unwrap(),
            salt.as_str()
        );
        assert!(verify(b"x", &phc, &mut None).is_err());
    }

    #[tokio::test]
    async fn beyond_the_workers_and_the_queue_requests_are_busy() {
        let hasher = Hasher::start(1, 1).unwrap();
        let attempts: Vec<_> = (0..8)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(format!("password {i}")).await })
            })
            .collect();
        let mut busy = 0;
        let mut hashed = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(_) => hashed += 1,
                Err(HashError::Busy) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        // One running and one waiting at most; whatever else arrives meanwhile is refused.
        assert!((1..=2).contains(&hashed), "{hashed} hashed, {busy} busy");
        assert_eq!(hashed + busy, 8);
        // Once drained, work is taken again.
        assert!(hasher.verify("x".into(), None).await.is_ok_and(|ok| !ok));
    }
}
