//! Synchronous operators and sources calling async clients (S3, Kafka).

/// Runs `f` to completion from synchronous code: inside the job's runtime it parks this
/// worker thread (other subtasks move to the remaining workers); outside any runtime it uses
/// a small one of its own.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => tokio::task::block_in_place(|| handle.block_on(f)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for blocking calls")
            .block_on(f),
    }
}
