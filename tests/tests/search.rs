//! Message search (`chat.search_messages`) and user search over real sockets: words, prefixes,
//! phrases, accents and case, CJK text, snippets, paging, the caller's conversations only (a
//! removed member and a stranger find nothing), deleted and edited messages, messages written
//! before search existed, and `%`/`_` in user search. On SQLite, and on PostgreSQL with
//! `TEST_DATABASE_URL` (the same cases: both engines must find the same messages).

use chat_e2e::{Person, TestServer, WsClient, execute_sql, fresh_database, pair};
use chat_server::Bus;
use chat_shared::{ClientMsg, ErrorCode, MessageHit, ServerMsg, UserRef};

/// What a search may be narrowed by.
#[derive(Default, Clone, Copy)]
struct Scope {
    conversation_id: Option<i64>,
    from_user_id: Option<i64>,
    before_id: Option<i64>,
    limit: Option<i64>,
}

fn search_frame(query: &str, scope: Scope) -> ClientMsg {
    ClientMsg::SearchMessages {
        query: query.into(),
        conversation_id: scope.conversation_id,
        from_user_id: scope.from_user_id,
        before_id: scope.before_id,
        limit: scope.limit,
    }
}

/// The results of a search and whether more match.
async fn search_in(client: &mut WsClient, query: &str, scope: Scope) -> (Vec<MessageHit>, bool) {
    client.send(&search_frame(query, scope)).await;
    client
        .recv_until(|f| match f {
            ServerMsg::MessageResults {
                query: echoed,
                results,
                has_more,
            } => {
                assert_eq!(echoed, query);
                Some((results, has_more))
            }
            _ => None,
        })
        .await
}

/// The contents found by `query` anywhere, newest first.
async fn found(client: &mut WsClient, query: &str) -> Vec<String> {
    let (results, _) = search_in(client, query, Scope::default()).await;
    results.into_iter().map(|h| h.message.content).collect()
}

/// The words a hit's highlights mark in its snippet.
fn marked(hit: &MessageHit) -> Vec<String> {
    let chars: Vec<char> = hit.snippet.chars().collect();
    hit.highlights
        .iter()
        .map(|[s, e]| chars[*s..*e].iter().collect())
        .collect()
}

/// Says `text` in `conversation` and waits for its echo (other messages skipped); its id.
async fn said(client: &mut WsClient, conversation: i64, text: &str) -> i64 {
    client.said(conversation, text).await.id
}

#[tokio::test]
async fn words_prefixes_phrases_accents_and_case_find_messages_newest_first() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    let c = p.conversation;
    said(&mut p.a, c, "The deploy script is ready").await;
    said(&mut p.a, c, "Le café est fermé").await;
    said(&mut p.a, c, "STRASSE und Straße").await;
    said(&mut p.a, c, "script deploy, in that order").await;
    said(&mut p.a, c, "nothing to see").await;

    let b = &mut p.b;
    // Every word must be there, in any order; newest first.
    assert_eq!(
        found(b, "deploy script").await,
        ["script deploy, in that order", "The deploy script is ready"]
    );
    // A phrase only where its words follow each other.
    assert_eq!(
        found(b, "\"deploy script\"").await,
        ["The deploy script is ready"]
    );
    // The last word as a prefix, unless the query ends with a space.
    assert_eq!(found(b, "depl").await.len(), 2);
    assert!(found(b, "depl ").await.is_empty());
    // Case and accents do not matter, either way round.
    assert_eq!(found(b, "CAFE ferme").await, ["Le café est fermé"]);
    assert_eq!(found(b, "strasse").await, ["STRASSE und Straße"]);
    assert_eq!(found(b, "straße").await, ["STRASSE und Straße"]);
    // The sender finds their own messages too.
    assert_eq!(found(&mut p.a, "café").await, ["Le café est fermé"]);

    // The snippet is the content; its highlights mark the matched words, by character.
    let (hits, has_more) = search_in(b, "cafe FERM", Scope::default()).await;
    assert!(!has_more);
    assert_eq!(hits[0].snippet, "Le café est fermé");
    assert_eq!(marked(&hits[0]), ["café", "fermé"]);
    assert_eq!(hits[0].message.sender.id, p.alice.id);
    server.stop().await;
}

#[tokio::test]
async fn cjk_text_long_snippets_paging_and_filters() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    let c = p.conversation;
    said(&mut p.a, c, "明日は東京都に行きます").await;
    said(&mut p.b, c, "서울에서 만나요").await;
    let long = format!("{} the needle {}", "hay ".repeat(100), "straw ".repeat(100));
    said(&mut p.a, c, &long).await;
    let b = &mut p.b;
    assert_eq!(found(b, "東京").await, ["明日は東京都に行きます"]);
    assert_eq!(found(b, "京都").await, ["明日は東京都に行きます"]);
    assert!(found(b, "京東").await.is_empty());
    assert_eq!(found(b, "서울").await, ["서울에서 만나요"]);

    let (hits, _) = search_in(b, "needle", Scope::default()).await;
    assert_eq!(hits[0].snippet.chars().count(), 200);
    assert!(hits[0].snippet.starts_with('…') && hits[0].snippet.ends_with('…'));
    assert_eq!(marked(&hits[0]), ["needle"]);

    // Twelve matches, paged five at a time with before_id.
    let mut ids = Vec::new();
    for i in 0..12 {
        let client = if i % 3 == 0 { &mut p.b } else { &mut p.a };
        ids.push(said(client, c, &format!("release {i}")).await);
    }
    let mut pages = Vec::new();
    let mut before_id = None;
    loop {
        let scope = Scope {
            before_id,
            limit: Some(5),
            ..Scope::default()
        };
        let (hits, has_more) = search_in(&mut p.b, "release", scope).await;
        before_id = hits.last().map(|h| h.message.id);
        pages.push(hits.iter().map(|h| h.message.id).collect::<Vec<_>>());
        if !has_more {
            break;
        }
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 2]);
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(pages.concat(), newest_first);
    // Only bob's, only this conversation.
    let scope = Scope {
        from_user_id: Some(p.bob.id),
        conversation_id: Some(c),
        ..Scope::default()
    };
    let (hits, _) = search_in(&mut p.a, "release", scope).await;
    assert_eq!(hits.len(), 4);
    assert!(hits.iter().all(|h| h.message.sender.id == p.bob.id));
    server.stop().await;
}

#[tokio::test]
async fn only_the_callers_conversations_deleted_never_and_edited_by_their_new_text() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    let carol = Person::new(&server, "carol").await;
    let mut c = carol.connect(&server).await;
    let dave = Person::new(&server, "dave").await;
    let mut d = dave.connect(&server).await;
    p.a.send(&ClientMsg::CreateGroup {
        title: "Ops".into(),
        member_ids: vec![p.bob.id, carol.id],
    })
    .await;
    let group =
        p.a.recv_until(|f| match f {
            ServerMsg::ConversationStarted { conversation } => Some(conversation.id),
            _ => None,
        })
        .await;
    said(&mut p.a, group, "rollback plan for friday").await;
    c.recv_message().await;
    said(&mut p.a, p.conversation, "private rollback notes").await;

    assert_eq!(
        found(&mut c, "rollback").await,
        ["rollback plan for friday"]
    );
    assert!(found(&mut d, "rollback").await.is_empty());
    // A conversation one is not in, named: not found.
    d.send(&search_frame(
        "rollback",
        Scope {
            conversation_id: Some(group),
            ..Scope::default()
        },
    ))
    .await;
    d.expect_error(ErrorCode::NotFound, Some("chat.search_messages"))
        .await;
    // Removed from the group: its messages are no longer found.
    p.a.send(&ClientMsg::RemoveMember {
        conversation_id: group,
        user_id: carol.id,
    })
    .await;
    c.recv_until(|f| matches!(f, ServerMsg::ConversationUpdated { left: true, .. }).then_some(()))
        .await;
    assert!(found(&mut c, "rollback").await.is_empty());

    // Edited: found by the new text only. Deleted: never.
    let id = said(&mut p.a, p.conversation, "the old wording").await;
    p.a.send(&ClientMsg::Edit {
        message_id: id,
        content: "the new phrasing".into(),
    })
    .await;
    p.a.recv_until(|f| matches!(f, ServerMsg::MessageUpdated { .. }).then_some(()))
        .await;
    assert!(found(&mut p.b, "wording").await.is_empty());
    assert_eq!(found(&mut p.b, "phrasing").await, ["the new phrasing"]);
    p.a.send(&ClientMsg::Delete { message_id: id }).await;
    p.a.recv_until(|f| matches!(f, ServerMsg::MessageUpdated { .. }).then_some(()))
        .await;
    assert!(found(&mut p.b, "phrasing").await.is_empty());
    // System messages are not found either ("carol was removed").
    assert!(found(&mut p.a, &carol.name).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn bad_queries_and_limits_are_refused_with_invalid_field() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    let too_long = "a".repeat(257);
    let too_many = vec!["w"; 17].join(" ");
    for (query, limit) in [
        ("!! ??", None),
        ("\"\"", None),
        (too_long.as_str(), None),
        (too_many.as_str(), None),
        ("fine", Some(0)),
        ("fine", Some(51)),
    ] {
        let scope = Scope {
            limit,
            ..Scope::default()
        };
        p.a.send(&search_frame(query, scope)).await;
        p.a.expect_error(ErrorCode::InvalidField, Some("chat.search_messages"))
            .await;
    }
    // Still connected and searching.
    said(&mut p.a, p.conversation, "fine then").await;
    assert_eq!(found(&mut p.a, "fine").await, ["fine then"]);
    server.stop().await;
}

#[tokio::test]
async fn messages_written_before_search_existed_are_indexed_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let url = fresh_database(dir.path()).await;
    let server = TestServer::start_on_url(&url, &[], Bus::Local).await;
    let mut p = pair(&server).await;
    said(&mut p.a, p.conversation, "kept from long ago").await;
    said(&mut p.a, p.conversation, "and another old one").await;
    // As a database from before search: no words for its messages.
    let unindexed = "UPDATE messages SET search_text = NULL";
    assert_eq!(execute_sql(&url, unindexed, &[]).await, 2);
    assert!(found(&mut p.b, "long").await.is_empty());
    drop((p.a, p.b));
    server.stop().await;

    let server = TestServer::start_on_url(&url, &[], Bus::Local).await;
    let mut b = p.bob.connect(&server).await;
    assert_eq!(found(&mut b, "long ago").await, ["kept from long ago"]);
    assert_eq!(found(&mut b, "another").await, ["and another old one"]);
    server.stop().await;
}

/// The names `chat.search_user` answers for `keyword`.
async fn users(client: &mut WsClient, keyword: &str) -> Vec<String> {
    client
        .send(&ClientMsg::SearchUser {
            keyword: keyword.into(),
        })
        .await;
    let results: Vec<UserRef> = client
        .recv_until(|f| match f {
            ServerMsg::SearchResults { results } => Some(results),
            _ => None,
        })
        .await;
    results.into_iter().map(|u| u.username).collect()
}

#[tokio::test]
async fn user_search_takes_wildcards_literally_and_puts_names_starting_with_it_first() {
    let server = TestServer::start().await;
    let tag = chat_e2e::unique_name("u").to_lowercase();
    let mut names = Vec::new();
    for name in [
        format!("x{tag}_one"),
        format!("{tag}.two"),
        format!("{tag}xthree"),
    ] {
        let (user, _) = chat_e2e::register_and_login(&server, &name).await;
        names.push(user.username);
    }
    let me = Person::new(&server, &format!("{tag}me")).await;
    let mut m = me.connect(&server).await;
    // Starting with the keyword first (by name), then containing it; never the caller.
    assert_eq!(
        users(&mut m, &tag.to_uppercase()).await,
        [names[1].clone(), names[2].clone(), names[0].clone()]
    );
    // `_` matches only itself; `%`, `*` and `?` (wildcards of LIKE and GLOB) match nothing here.
    assert_eq!(users(&mut m, &format!("{tag}_")).await, [names[0].clone()]);
    for wildcard in ["%", "*", "?", "[x]"] {
        assert!(
            users(&mut m, &format!("{tag}{wildcard}")).await.is_empty(),
            "{wildcard}"
        );
    }
    server.stop().await;
}
