//! `join_all` for local (`!Send`) futures, hand-written on
//! [`std::future::poll_fn`] so that the crate needs no async runtime.
//!
//! Redlock sends its `SET` to every node at once and waits for all the
//! replies (each bounded by the per-node timeout). Every future is polled
//! in the order given, so the commands leave in node order, and the outputs
//! come back in the same order whatever order they finish in.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

/// Runs every future to completion concurrently and returns their outputs
/// in input order.
///
/// ```
/// # use locksim_models::join::join_all;
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// let out = block_on(join_all(vec![std::future::ready(1), std::future::ready(2)]));
/// assert_eq!(out, vec![1, 2]);
/// ```
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Option<Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    poll_fn(move |cx| {
        let mut all_done = true;
        for (slot, out) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            Poll::Ready(
                outputs
                    .iter_mut()
                    .map(|o| o.take().expect("every future finished"))
                    .collect(),
            )
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::task::{Context, Waker};

    /// A future that is pending `n` times, logging each poll.
    struct Countdown {
        id: usize,
        left: usize,
        log: Rc<RefCell<Vec<usize>>>,
    }

    impl Future for Countdown {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.log.borrow_mut().push(self.id);
            if self.left == 0 {
                Poll::Ready(self.id * 10)
            } else {
                self.left -= 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn outputs_in_input_order_and_polls_in_order() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let futs: Vec<Countdown> = [2, 0, 1]
            .iter()
            .enumerate()
            .map(|(id, &left)| Countdown {
                id,
                left,
                log: log.clone(),
            })
            .collect();
        let mut j = std::pin::pin!(join_all(futs));
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut rounds = 0;
        let out = loop {
            rounds += 1;
            if let Poll::Ready(v) = j.as_mut().poll(&mut cx) {
                break v;
            }
        };
        assert_eq!(out, vec![0, 10, 20]);
        assert_eq!(rounds, 3);
        // First round polls all three in order; finished futures are not
        // polled again.
        assert_eq!(*log.borrow(), vec![0, 1, 2, 0, 2, 0]);
    }

    #[test]
    fn empty_input_is_ready_at_once() {
        let mut j = std::pin::pin!(join_all(Vec::<std::future::Ready<u8>>::new()));
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(j.as_mut().poll(&mut cx), Poll::Ready(vec![]));
    }
}
