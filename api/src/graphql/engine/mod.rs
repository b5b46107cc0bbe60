//! The engine every operation runs through, over HTTP and WebSocket alike:
//! async-graphql's schema behind one `Executor` that checks the limits,
//! parses each document once (a cache), attaches the request's DataLoaders,
//! records the operation (span and metrics) and gives every error its code.
//!
//! None of this is an async-graphql extension on purpose: with any extension
//! installed, async-graphql resolves every field through its slower path
//! (a `ResolveInfo` and the extension chain per field), which these concerns
//! do not need. They only look at the request before and the response after.

mod codes;
pub(crate) mod documents;
mod feeds;
pub(crate) mod limits;
mod messages;
mod operation;
mod persisted;
pub(crate) mod settings;
mod trusted;

use std::sync::Arc;

use std::any::TypeId;

use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Executor, Request, Response, ServerError};
use futures_util::stream::{self, BoxStream, StreamExt};

pub(crate) use codes::is_request_error;
use documents::{Document, Documents};
pub(crate) use limits::limit_error;
use operation::Operation;
use persisted::Persisted;
pub(crate) use trusted::{Trusted, TrustedDocumentsError};

use super::batches::Batches;
use super::context::ServiceState;
use super::loaders::Loaders;
use super::schema::AppSchema;
use super::subscription::FeedTap;
use crate::config::Config;
use crate::service::{Owner, Store};

/// Parsed documents kept per process.
const DOCUMENT_CACHE_SIZE: usize = 1000;

#[derive(Clone)]
pub(crate) struct Engine(Arc<Inner>);

struct Inner {
    schema: AppSchema,
    store: Store,
    documents: Documents,
    /// Documents sent by hash (APQ) and the trusted documents' manifest.
    persisted: Persisted,
    /// No sign-in configured: a request without an owner is the single user's.
    single_user: bool,
    /// Live subscriptions shared by the sockets that make the same one.
    feeds: Arc<feeds::Feeds>,
}

/// A request that passed the checks, with its document, ready to run.
pub(crate) struct Prepared {
    request: Request,
    document: Arc<Document>,
    operation: Operation,
    ty: Option<OperationType>,
    /// Where the request's DataLoaders put their batches.
    batches: Batches,
    owner: Owner,
}

impl Prepared {
    /// The type of the operation the request selects, if it selects one.
    pub(crate) fn operation_type(&self) -> Option<OperationType> {
        self.ty
    }
}

impl Engine {
    /// The engine over `schema`, with the trusted documents of
    /// [`Engine::load_trusted`].
    pub(crate) fn new(
        schema: AppSchema,
        store: Store,
        config: &Config,
        single_user: bool,
        trusted: Option<Trusted>,
    ) -> Self {
        Self(Arc::new(Inner {
            schema,
            store,
            persisted: Persisted::new(config.persisted.apq_cache_size, trusted),
            documents: documents_for(config, DOCUMENT_CACHE_SIZE),
            single_user,
            feeds: Arc::default(),
        }))
    }

    /// Reads and parses the trusted documents' manifest, if one is in force.
    pub(crate) fn load_trusted(config: &Config) -> Result<Option<Trusted>, TrustedDocumentsError> {
        Trusted::load(&config.persisted, &documents_for(config, 1))
    }

    /// Whether `query` holds a mutation, from the same bounded, cached parse
    /// the request gets when it runs (so it is parsed once). A document
    /// that fails its checks or does not parse holds none.
    pub(crate) fn has_mutation(&self, query: &str) -> bool {
        self.0.documents.get(query).is_ok_and(|document| {
            document
                .parsed
                .operations
                .iter()
                .any(|(_, op)| op.node.ty == OperationType::Mutation)
        })
    }

    /// Checks `request` and finds its document; a refusal is the response.
    /// Its owner comes from the request's data (HTTP), the socket's
    /// (`session`, WebSocket), or is the single user.
    pub(crate) fn prepare(
        &self,
        mut request: Request,
        session: Option<&Data>,
    ) -> Result<Prepared, Box<Response>> {
        let refuse = |selected, error: ServerError| {
            let response = Response::from_errors(vec![error]);
            Operation::start(selected).finish(&response);
            Box::new(response)
        };
        let document = match self.0.persisted.document(&request, &self.0.documents) {
            Ok(document) => document,
            Err(error) => return Err(refuse(None, error)),
        };
        let selected = document.selected(request.operation_name.as_deref());
        if let Some(refusal) = &document.refusal {
            return Err(refuse(selected, refusal.clone()));
        }
        if let Err(error) = limits::check_required_variables(&document.parsed, &request.variables) {
            return Err(refuse(selected, error));
        }
        let owner = match owner_in(&request.data)
            .or_else(|| session.and_then(owner_in))
            .cloned()
        {
            Some(owner) => owner,
            None if self.0.single_user => Owner::single_user(),
            // The transports refuse requests without a valid token first.
            None => return Err(refuse(selected, codes::unauthenticated())),
        };
        let ty = selected.map(|(_, ty)| ty);
        // Queries and mutations load a row at most once and never share it
        // with another request; a subscription's events are each read fresh.
        let batches = Batches::default();
        let loaders = if ty == Some(OperationType::Subscription) {
            Loaders::uncached(&self.0.store, &owner, &batches)
        } else {
            Loaders::per_request(&self.0.store, &owner, &batches)
        };
        request = request.data(loaders).data(owner.clone());
        request.set_parsed_query(document.parsed.clone());
        Ok(Prepared {
            operation: Operation::start(selected),
            request,
            document,
            ty,
            batches,
            owner,
        })
    }

    /// Runs a prepared query or mutation.
    pub(crate) async fn run(&self, prepared: Prepared) -> Response {
        let Prepared {
            request,
            document,
            operation,
            batches,
            ..
        } = prepared;
        let mut response = {
            use tracing::Instrument;
            let span = operation.span().clone();
            batches
                .run(self.0.schema.execute(request))
                .instrument(span)
                .await
        };
        codes::classify(&mut response, &document.variable_positions);
        operation.finish(&response);
        response
    }

    fn run_stream(&self, prepared: Prepared, session: Arc<Data>) -> BoxStream<'static, Response> {
        if feeds::shareable(
            &prepared.document.parsed,
            prepared.request.operation_name.as_deref(),
        ) && let Some(hub) = self.0.schema.data::<ServiceState>().map(|s| s.hub())
        {
            return self.join_feed(prepared, session, hub.head());
        }
        let Prepared {
            request,
            document,
            operation,
            batches,
            ..
        } = prepared;
        operation.track(self.responses(request, &document, batches, session))
    }

    /// The responses of a streamed operation, each error given its code.
    fn responses(
        &self,
        request: Request,
        document: &Arc<Document>,
        batches: Batches,
        session: Arc<Data>,
    ) -> BoxStream<'static, Response> {
        let document = Arc::clone(document);
        batches
            .run_stream(
                self.0
                    .schema
                    .execute_stream_with_session_data(request, session),
            )
            .map(move |mut response| {
                codes::classify(&mut response, &document.variable_positions);
                response
            })
            .boxed()
    }
}

impl Engine {
    /// A live subscription served by the feed every socket with the same one
    /// shares (see [`feeds`]), from `head`.
    fn join_feed(
        &self,
        prepared: Prepared,
        session: Arc<Data>,
        head: i64,
    ) -> BoxStream<'static, Response> {
        let Prepared {
            request,
            document,
            operation,
            owner,
            ..
        } = prepared;
        let key = feeds::Key {
            owner: owner.clone(),
            document: Arc::as_ptr(&document) as usize,
            operation_name: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).unwrap_or_default(),
        };
        let execute: feeds::Execute = {
            let engine = self.clone();
            let document = Arc::clone(&document);
            let variables = request.variables.clone();
            let operation_name = request.operation_name.clone();
            Arc::new(move |tap: FeedTap| {
                let mut request = Request::new("").variables(variables.clone());
                request.operation_name = operation_name.clone();
                engine.execute_tapped(request, &document, &owner, Arc::clone(&session), tap)
            })
        };
        let member = self.0.feeds.subscribe(key, document, head, execute);
        operation.track(member)
    }

    /// Runs `document` as a subscription from the tap's position, for a
    /// feed (untracked: each member tracks its own operation).
    fn execute_tapped(
        &self,
        mut request: Request,
        document: &Arc<Document>,
        owner: &Owner,
        session: Arc<Data>,
        tap: FeedTap,
    ) -> BoxStream<'static, Response> {
        let batches = Batches::default();
        let loaders = Loaders::uncached(&self.0.store, owner, &batches);
        request = request.data(loaders).data(owner.clone()).data(tap);
        request.set_parsed_query(document.parsed.clone());
        self.responses(request, document, batches, session)
    }
}

/// Documents parsed under the configured limits, `capacity` of them kept.
fn documents_for(config: &Config, capacity: usize) -> Documents {
    Documents::new(
        capacity,
        config.graphql_limits.clone(),
        config.introspection(),
    )
}

fn owner_in(data: &Data) -> Option<&Owner> {
    data.get(&TypeId::of::<Owner>())?.downcast_ref::<Owner>()
}

impl Executor for Engine {
    async fn execute(&self, request: Request) -> Response {
        match self.prepare(request, None) {
            Ok(prepared) => self.run(prepared).await,
            Err(refusal) => *refusal,
        }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        match self.prepare(request, session_data.as_deref()) {
            Ok(prepared) => self.run_stream(prepared, session_data.unwrap_or_default()),
            Err(refusal) => stream::once(async move { *refusal }).boxed(),
        }
    }
}
