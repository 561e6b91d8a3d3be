//! Work a check leaves running after its run (the HTTP check's keep-alive watch), and how what
//! it finds amends a cycle's results.

use std::fmt;

use super::OriginResults;

/// What a check's lingering work found, as a change to a cycle's results: applied to the
/// results of the cycle that started it, or to a later cycle's when that one was published
/// meanwhile (and again when another was published while it applied). Returns whether it
/// changed anything.
pub type Amend = Box<dyn Fn(&mut OriginResults) -> bool + Send + Sync>;

/// Work a check leaves running after its run, each task bounded in time by the check: the HTTP
/// check's keep-alive watch. The cycle's verdict does not wait for it and no budget slot is held
/// while it runs; what each task finds amends the results when it ends. Dropping it aborts
/// what still runs.
#[derive(Default)]
pub struct Lingering {
    tasks: Vec<tokio::task::JoinHandle<Amend>>,
}

impl Lingering {
    pub fn push(&mut self, task: tokio::task::JoinHandle<Amend>) {
        self.tasks.push(task);
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for every task, until `deadline` when there is one; what those that ended found.
    /// Those still running are aborted.
    pub async fn settle(mut self, deadline: Option<tokio::time::Instant>) -> Vec<Amend> {
        let tasks = std::mem::take(&mut self.tasks);
        let mut found = Vec::with_capacity(tasks.len());
        for mut task in tasks {
            let ended = match deadline {
                Some(at) => tokio::time::timeout_at(at, &mut task).await.ok(),
                None => Some((&mut task).await),
            };
            match ended {
                Some(Ok(amend)) => found.push(amend),
                // Panicked, aborted, or past the deadline: it found nothing.
                Some(Err(_)) | None => task.abort(),
            }
        }
        found
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl fmt::Debug for Lingering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lingering({} tasks)", self.tasks.len())
    }
}
