//! Fuzz target: any bytes as a text frame from a signed-in user, dispatched by the real server
//! code (`ws::handle::dispatch`) against a real store (a SQLite file in a temporary directory)
//! holding two users and their conversation. Dispatch must never panic or hang, and everything it
//! queues for the connection must be a well-formed server frame.

#![no_main]

use std::sync::OnceLock;

use chat_server::conn::ConnHandle;
use chat_server::ws::handle::{Pipeline, Caller, dispatch};
use chat_server::{AppState, Config};
use chat_shared::ServerMsg;
use libfuzzer_sys::fuzz_target;

struct World {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    caller: Caller,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
        // Short messages keep the database small over millions of inputs.
        let args = [
            "chat-server",
            "--database-url",
            &url,
            "--jwt-secret",
            "fuzz",
            "--max-message-chars",
            "16",
        ];
        let config = Config::from_args(args).expect("flags");
        let (state, me) = runtime.block_on(async {
            let state = chat_server::build_state(config).await.expect("state");
            let me = state.store.create_user("alice", "x").await.expect("alice");
            let other = state.store.create_user("bob", "x").await.expect("bob");
            state
                .store
                .find_or_create_conversation(&me, &other)
                .await
                .expect("conversation");
            (state, me)
        });
        let conn = ConnHandle::new(state.hub.next_conn_id(), me.id, 1024, 4 << 20);
        state.hub.register(conn.clone());
        World {
            runtime,
            state,
            caller: Caller { user: me, conn },
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    // The server only ever sees valid UTF-8 text frames (the WebSocket layer checks).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let w = world();
    w.runtime.block_on(async {
        // A chat message is only handed to the writer: wait for its outcome too.
        let mut pipeline = Pipeline::default();
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            dispatch(&w.state, &w.caller, &mut pipeline, text).await;
            pipeline.finish(&w.state, &w.caller).await;
        })
        .await
        .expect("dispatch finished");
    });
    while let Some(frame) = w.caller.conn.outbox.try_next() {
        serde_json::from_str::<ServerMsg>(frame.as_str())
            .unwrap_or_else(|e| panic!("malformed frame {frame:?}: {e}"));
    }
});
