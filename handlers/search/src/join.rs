//! Running futures concurrently on the current task (the queries of a multi-search).
//!
//! A small `join_all` so the crate needs no dependency beyond the workspace's shared ones: each
//! round polls every future not yet finished, and the outputs come back in input order.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

/// Awaits every future of `futures` concurrently; their outputs in the same order.
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut running: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    poll_fn(|context| {
        let mut pending = false;
        for (future, output) in running.iter_mut().zip(outputs.iter_mut()) {
            if output.is_some() {
                continue;
            }
            match future.as_mut().poll(context) {
                Poll::Ready(value) => *output = Some(value),
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A future that is pending `rounds` times (waking itself) before yielding `value`.
    async fn after(rounds: usize, value: usize, log: &Cell<Vec<usize>>) -> usize {
        for _ in 0..rounds {
            let mut yielded = false;
            poll_fn(|context| {
                if yielded {
                    Poll::Ready(())
                } else {
                    yielded = true;
                    context.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await;
        }
        let mut seen = log.take();
        seen.push(value);
        log.set(seen);
        value
    }

    #[test]
    fn outputs_keep_input_order_while_futures_interleave() {
        let log = Cell::new(Vec::new());
        let outputs = block_on(join_all(vec![
            after(3, 0, &log),
            after(0, 1, &log),
            after(1, 2, &log),
        ]));
        assert_eq!(outputs, vec![0, 1, 2]);
        assert_eq!(log.take(), vec![1, 2, 0]);
    }

    /// Drives a future to completion on this thread (its wakers are no-ops; it is polled again
    /// until ready).
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = Box::pin(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
        }
    }
}
