//! Running a decoded request through the engine and writing its answer:
//! what `/graphql` and `Idempotency-Key` both do.

use async_graphql::{BatchRequest, BatchResponse, Executor};
use axum::response::Response;
use tracing::Instrument;

use super::responses::respond;
use super::state::SharedState;

pub(super) async fn execute(
    state: &SharedState,
    batch: BatchRequest,
    media: &'static str,
) -> Response {
    // Each operation gets its own `graphql.operation` span from the engine;
    // this one only groups a batch.
    let size = match &batch {
        BatchRequest::Single(_) => 1,
        BatchRequest::Batch(rs) => rs.len(),
    };
    let span = tracing::debug_span!("graphql.batch", size);
    let response = execute_in_order(state, batch).instrument(span).await;
    respond(response, media)
}

/// A batch runs one operation after the other, as written: a query after a
/// mutation in the same batch sees what the mutation did.
async fn execute_in_order(state: &SharedState, batch: BatchRequest) -> BatchResponse {
    match batch {
        BatchRequest::Single(request) => BatchResponse::Single(state.engine.execute(request).await),
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                responses.push(state.engine.execute(request).await);
            }
            BatchResponse::Batch(responses)
        }
    }
}
