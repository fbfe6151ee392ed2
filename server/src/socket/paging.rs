//! `chat.history` and `chat.search`: pages of older messages, read from the store by keyset
//! (message id) so a page stays put while new messages arrive.

use serde_json::Value;
use shared::{
    errors, events,
    inbound::{Conversation, PageArgs},
    payload::{ChatMessage, Page, PageAck},
};
use socketioxide::adapter::Adapter;

use super::{
    chat_rooms, direct,
    event::{Answer, ClientEvent, Cx, FromArgs},
    history::to_payload,
};
use crate::store::{Message, StoreError, Window};

/// `chat.history {room | with, before?, limit?}` → `{success, messages, more}`.
pub struct ReadHistory;
/// `chat.search {room, query, before?, limit?}` → `{success, messages, more}`.
pub struct Search;

/// `chat.history`'s argument, validated.
pub struct HistoryArgs(Conversation, PageArgs);

impl FromArgs for HistoryArgs {
    fn from_args(args: Vec<Value>) -> Result<Self, String> {
        shared::inbound::history_arg(args).map(|(c, p)| HistoryArgs(c, p))
    }
}

/// `chat.search`'s argument, validated: the room, the words, the page.
pub struct SearchArgs(String, Vec<String>, PageArgs);

impl FromArgs for SearchArgs {
    fn from_args(args: Vec<Value>) -> Result<Self, String> {
        shared::inbound::search_arg(args).map(|(r, w, p)| SearchArgs(r, w, p))
    }
}

impl ClientEvent for ReadHistory {
    const NAME: &'static str = events::CHAT_HISTORY;
    type Args = HistoryArgs;
    type Ack = PageAck;

    /// A direct conversation's peer is looked up off the socket's queue, with the read.
    async fn handle<A: Adapter>(cx: &Cx<A>, HistoryArgs(conversation, page): HistoryArgs) -> Answer<PageAck> {
        let history = cx.state.history.clone();
        match conversation {
            Conversation::Room(room) => {
                if !chat_rooms(&cx.socket).contains(&room) {
                    return Err(errors::not_in_room(&room)).into();
                }
                Answer::Later(Box::pin(async move {
                    let found =
                        history.read(&room, Window::Before(page.before.as_deref()), page.limit + 1).await;
                    Ok(PageAck::done(into_page(found, page.limit, |m| to_payload(m, true))?))
                }))
            }
            Conversation::With(name) => {
                let (store, me, my_id) =
                    (cx.state.store.clone(), cx.session.username.clone(), cx.session.user_id.clone());
                Answer::Later(Box::pin(async move {
                    let peer = direct::peer(&*store, &name).await?;
                    let key = direct::conversation(&my_id, &peer.id);
                    let found =
                        history.read(&key, Window::Before(page.before.as_deref()), page.limit + 1).await;
                    let shown = |m: &Message| direct::to_payload(m, &me, &peer.username, true);
                    Ok(PageAck::done(into_page(found, page.limit, shown)?))
                }))
            }
        }
    }
}

impl ClientEvent for Search {
    const NAME: &'static str = events::CHAT_SEARCH;
    type Args = SearchArgs;
    type Ack = PageAck;

    async fn handle<A: Adapter>(cx: &Cx<A>, SearchArgs(room, words, page): SearchArgs) -> Answer<PageAck> {
        if !chat_rooms(&cx.socket).contains(&room) {
            return Err(errors::not_in_room(&room)).into();
        }
        let history = cx.state.history.clone();
        Answer::Later(Box::pin(async move {
            let found = history.search(&room, &words, page.before.as_deref(), page.limit + 1).await;
            Ok(PageAck::done(into_page(found, page.limit, |m| to_payload(m, true))?))
        }))
    }
}

/// A page from up to `limit + 1` messages read (oldest first): the newest `limit`, and
/// whether there was one more.
fn into_page(
    found: Result<Vec<Message>, StoreError>,
    limit: usize,
    shown: impl Fn(&Message) -> ChatMessage,
) -> Result<Page, String> {
    let found = found.map_err(|e| {
        tracing::warn!("history read failed: {e}");
        errors::SERVICE_UNAVAILABLE.to_string()
    })?;
    let more = found.len() > limit;
    let skip = found.len().saturating_sub(limit);
    Ok(Page { messages: found[skip..].iter().map(shown).collect(), more })
}
