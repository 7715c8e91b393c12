//! Receipts never cost a reader their connection: a client that answers every message with
//! `chat.delivered` and `chat.read` is never limited for it, however fast messages come, while a
//! receipt flood from a client that was sent nothing still is; repeated typing is dropped; and
//! a receipt is applied before the next request is answered.

use std::time::Duration;

use chat_e2e::{Person, TestServer, WsClient};
use chat_shared::{ClientMsg, ErrorCode, MessageStatus, ServerMsg};

/// Senders, each sending a frame burst's worth of messages at once.
const SENDERS: usize = 10;
const PER_SENDER: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_answering_every_message_with_receipts_is_never_limited() {
    // Default limits: 100 frames at once, then 20 a second.
    let server = TestServer::start().await;
    let receiver = Person::new(&server, "receiver").await;
    let mut r = receiver.connect(&server).await;
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let sender = Person::new(&server, "sender").await;
        let conversation = r.start_conversation(sender.id).await;
        let socket = sender.connect(&server).await;
        senders.push((sender, conversation, socket));
    }

    let tasks: Vec<_> = senders
        .into_iter()
        .map(|(sender, conversation, mut socket)| {
            tokio::spawn(async move {
                let messages: Vec<ClientMsg> = (0..PER_SENDER)
                    .map(|i| ClientMsg::message(conversation, format!("{} {i}", sender.name)))
                    .collect();
                // Every echo, then the newest one's `seen`; nothing refused. A deadline for the
                // whole exchange rather than per frame: on a busy machine a sender may wait
                // long between its last `delivered` and its `seen`.
                let mut echoes = Vec::new();
                let mut reads = 0;
                let mut seen = Vec::new();
                let last_seen = together(&mut socket, &messages, |frame| {
                    match frame {
                        ServerMsg::Message { message } => echoes.push(message.id),
                        ServerMsg::MessageStatus {
                            message_id,
                            status: MessageStatus::Seen,
                        } => seen.push(message_id),
                        ServerMsg::MessageStatus { .. } => {}
                        ServerMsg::Read { .. } => reads += 1,
                        other => panic!("sender got {other:?}"),
                    }
                    // Checked after every frame: a read applied between the writer's commit
                    // and its delivery can announce a message seen before its echo comes.
                    let last = echoes.get(PER_SENDER - 1).copied();
                    last.filter(|last| echoes.len() == PER_SENDER && seen.contains(last))
                })
                .await;
                assert_eq!(last_seen, *echoes.iter().max().expect("echoes"));
                (socket, reads)
            })
        })
        .collect();

    // The receiver answers each message as TutorMove's client does, until every sender has
    // seen its last message seen; any error it is sent fails the test. One deadline for the
    // whole exchange, not one per frame.
    let mut senders_done = futures_util::future::join_all(tasks);
    let mut received = 0;
    let deadline = tokio::time::Instant::now() + EXCHANGE;
    let done = loop {
        let frame = tokio::select! {
            done = &mut senders_done => break done,
            frame = r.try_recv(deadline) => frame,
        };
        let frame = frame.unwrap_or_else(|e| {
            panic!("the receiver's socket ended or went quiet after {received} messages: {e:?}")
        });
        match frame {
            ServerMsg::Message { message } => {
                received += 1;
                r.send_together(&[
                    ClientMsg::Delivered {
                        message_id: message.id,
                    },
                    ClientMsg::Read {
                        conversation_id: message.conversation_id,
                    },
                ])
                .await;
            }
            other => panic!("the receiver got {other:?} after {received} messages"),
        }
    };
    assert_eq!(received, SENDERS * PER_SENDER);
    let mut reads = 0;
    for outcome in done {
        let (socket, announced) = outcome.expect("every sender saw its last message seen");
        reads += announced;
        socket.close().await;
    }
    eprintln!(
        "{} messages; the receiver sent as many chat.read, the senders were told of {reads}",
        SENDERS * PER_SENDER
    );
    // Still connected, nothing was refused, and everything is read.
    let conversations = together(
        &mut r,
        &[ClientMsg::GetConversations {}],
        |frame| match frame {
            ServerMsg::Conversations { conversations } => Some(conversations),
            other => panic!("expected the list, got {other:?}"),
        },
    )
    .await;
    assert_eq!(conversations.len(), SENDERS);
    assert!(
        conversations.iter().all(|c| c.unread_count == Some(0)),
        "{conversations:?}"
    );
}

#[tokio::test]
async fn a_receipt_flood_from_a_client_sent_nothing_is_still_limited() {
    const FLOOD: usize = 130;
    let server = TestServer::start().await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    let conversation = a.start_conversation(bob.id).await;
    for _ in 0..FLOOD {
        a.send(&ClientMsg::Read {
            conversation_id: conversation,
        })
        .await;
    }
    // Frames have their own allowance: this one is answered after every receipt.
    a.send(&ClientMsg::GetConversations {}).await;
    let mut limited = 0;
    loop {
        match a.recv().await {
            ServerMsg::Error {
                code: ErrorCode::RateLimited,
                request_type,
                ..
            } => {
                assert_eq!(request_type.as_deref(), Some("chat.read"));
                limited += 1;
            }
            ServerMsg::Conversations { .. } => break,
            other => panic!("got {other:?}"),
        }
    }
    // The receipt allowance is a burst of 100 (and 20 a second).
    assert!(
        (FLOOD - 100 - 5..=FLOOD - 100).contains(&limited),
        "{limited} of {FLOOD} limited"
    );
    // The reads that passed were applied together: Bob hears of far fewer than were sent.
    a.send(&ClientMsg::message(conversation, "after the flood"))
        .await;
    let mut reads = 0;
    loop {
        match b.recv().await {
            ServerMsg::Read { .. } => reads += 1,
            ServerMsg::Message { message } if message.content == "after the flood" => break,
            other => panic!("got {other:?}"),
        }
    }
    assert!((1..=FLOOD - limited).contains(&reads), "{reads} reads");
}

#[tokio::test]
async fn repeated_typing_is_dropped_but_every_change_goes_through() {
    let server = TestServer::start_with(&["--typing-interval", "60s"]).await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    let conversation = a.start_conversation(bob.id).await;
    let typing = |is_typing| ClientMsg::Typing {
        receiver_id: Some(bob.id),
        conversation_id: None,
        is_typing,
    };
    for is_typing in [true, true, true, true, false, false, true, true] {
        a.send(&typing(is_typing)).await;
    }
    // Typing to oneself is still refused, repeated or not.
    for _ in 0..2 {
        a.send(&ClientMsg::Typing {
            receiver_id: Some(alice.id),
            conversation_id: None,
            is_typing: true,
        })
        .await;
        let refused = a
            .recv_until(|frame| match frame {
                ServerMsg::Error { code, .. } => Some(code),
                _ => None,
            })
            .await;
        assert_eq!(refused, ErrorCode::InvalidReceiver);
    }
    a.send(&ClientMsg::message(conversation, "done typing"))
        .await;
    let mut relayed = Vec::new();
    loop {
        match b.recv().await {
            ServerMsg::Typing {
                sender_id,
                is_typing,
                ..
            } => {
                assert_eq!(sender_id, alice.id);
                relayed.push(is_typing);
            }
            ServerMsg::Message { .. } => break,
            other => panic!("got {other:?}"),
        }
    }
    assert_eq!(relayed, [true, false, true]);
}

/// How long an exchange of several frames may take: on a busy machine, longer than
/// `chat_e2e::WAIT`.
const EXCHANGE: Duration = Duration::from_secs(60);

/// Sends `frames` in one write (so the server reads them together), then returns the first
/// answer that `pick` takes, within [`EXCHANGE`].
async fn together<T>(
    socket: &mut WsClient,
    frames: &[ClientMsg],
    pick: impl FnMut(ServerMsg) -> Option<T>,
) -> T {
    socket.send_together(frames).await;
    socket.recv_until_within(EXCHANGE, pick).await
}

fn only_conversation(frame: ServerMsg) -> Option<chat_shared::ConversationListItem> {
    match frame {
        ServerMsg::Conversations { mut conversations } => {
            assert_eq!(conversations.len(), 1);
            conversations.pop()
        }
        _ => None,
    }
}

#[tokio::test]
async fn a_receipt_is_applied_before_the_next_request_is_answered() {
    let server = TestServer::start().await;
    let alice = Person::new(&server, "alice").await;
    let bob = Person::new(&server, "bob").await;
    let mut a = alice.connect(&server).await;
    let mut b = bob.connect(&server).await;
    let conversation = a.start_conversation(bob.id).await;
    let mut last = 0;
    for i in 0..3 {
        a.send(&ClientMsg::message(conversation, format!("m{i}")))
            .await;
        last = a
            .recv_until(|frame| match frame {
                ServerMsg::Message { message } => Some(message.id),
                _ => None,
            })
            .await;
    }
    // Each receipt and the request after it arrive together; the answer sees the receipt.
    let delivered = ClientMsg::Delivered { message_id: last };
    let list = [delivered, ClientMsg::GetConversations {}];
    let item = together(&mut b, &list, only_conversation).await;
    assert_eq!(item.unread_count, Some(3));
    let newest = item.last_message.flatten().expect("a newest message");
    assert_eq!(newest.message.status, Some(MessageStatus::Delivered));

    let read = ClientMsg::Read {
        conversation_id: conversation,
    };
    let item = together(
        &mut b,
        &[read, ClientMsg::GetConversations {}],
        only_conversation,
    )
    .await;
    assert_eq!(item.unread_count, Some(0));
    assert_eq!(item.has_unread, Some(false));

    // A bad receipt is still answered, with its type.
    let bad = [
        ClientMsg::Delivered {
            message_id: last + 1000,
        },
        ClientMsg::Read {
            conversation_id: conversation + 1000,
        },
    ];
    let mut refused = Vec::new();
    together(&mut b, &bad, |frame| {
        if let ServerMsg::Error {
            code, request_type, ..
        } = frame
        {
            refused.push((code, request_type.expect("request_type")));
        }
        (refused.len() == 2).then_some(())
    })
    .await;
    assert_eq!(
        refused,
        [
            (ErrorCode::NotFound, "chat.delivered".to_string()),
            (ErrorCode::NotFound, "chat.read".to_string()),
        ]
    );
}
