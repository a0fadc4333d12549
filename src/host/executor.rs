//! The host's executor: tasks (the core's futures), the operation table their ports fill and
//! the deadlines their timers become. Nothing here waits: an export drives every task that can
//! move until each is blocked on an operation JavaScript runs, then hands back the
//! instructions written meanwhile ([`run`]). A result comes back through [`reply`] (or
//! [`timer_fired`]) and the tasks it wakes move on in the same call.
//!
//! A timer is not a JavaScript timer: [`Sleep`] writes its deadline into its task's list, and
//! the task has one timer in JavaScript, armed for its earliest deadline and re-armed only when
//! it fires (a stream reading chunk after chunk, each read raced against its idle timeout, arms
//! it once). A deadline that is dropped (the read won) costs a removal from a list.

use super::wire::{Kind, Out};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// What JavaScript answered for an operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Done: a code whose meaning is the operation's (an HTTP status, 1 for "a chunk" or "found",
    /// 0 for "the end" or "missing"), a text (headers) and bytes (a body).
    Done {
        code: u32,
        text: String,
        bytes: Vec<u8>,
    },
    /// A `fetch` whose body streams: read it with [`Kind::Read`] on the op's id.
    Stream {
        status: u16,
        headers: String,
    },
    Failed(String),
}

struct Task {
    /// `None` while it is being polled.
    future: Option<TaskFuture>,
    waker: Waker,
    /// The request this task works for (itself for a request's own task).
    root: u32,
    queued: bool,
    /// Deadlines of the task's pending sleeps: (at, key, waker).
    deadlines: Vec<(f64, u32, Option<Waker>)>,
    /// When the task's JavaScript timer fires, if it is armed.
    armed: Option<f64>,
}

struct Slot {
    reply: Option<Reply>,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Host {
    tasks: HashMap<u32, Task>,
    ops: HashMap<u32, Slot>,
    next_id: u32,
    out: Out,
    /// The time JavaScript gave on entry: the platform's clock does not move while code runs.
    now: f64,
    /// The task being polled (0: none).
    current: u32,
}

impl Host {
    fn id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }
}

thread_local! {
    static HOST: RefCell<Host> = RefCell::new(Host::default());
    /// Tasks woken and not yet polled. Apart from `HOST`: a waker may run while it is borrowed.
    static READY: RefCell<VecDeque<u32>> = const { RefCell::new(VecDeque::new()) };
}

struct TaskWaker(u32);

impl std::task::Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        READY.with(|r| r.borrow_mut().push_back(self.0));
    }
    fn wake_by_ref(self: &Arc<Self>) {
        READY.with(|r| r.borrow_mut().push_back(self.0));
    }
}

fn with<R>(f: impl FnOnce(&mut Host) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

/// For `Drop`s: nothing to do once the thread's host is gone (a test thread ending).
fn with_if_alive(f: impl FnOnce(&mut Host)) {
    let _ = HOST.try_with(|h| {
        if let Ok(mut h) = h.try_borrow_mut() {
            f(&mut h);
        }
    });
}

/// Writes instructions for JavaScript.
pub fn emit(f: impl FnOnce(&mut Out)) {
    with_if_alive(|h| f(&mut h.out));
}

/// Sets the clock for this entry (JavaScript's `Date.now()` when it called).
pub fn set_now(now_ms: f64) {
    with(|h| h.now = now_ms);
}

pub fn now() -> f64 {
    with(|h| h.now)
}

/// The task being polled and the request it works for.
pub fn current() -> (u32, u32) {
    with(|h| {
        let root = h.tasks.get(&h.current).map_or(0, |t| t.root);
        (h.current, root)
    })
}

/// A new task, polled at the next [`run`]. `root` is the request it works for; 0 makes it a
/// request's own task.
pub fn spawn(future: impl Future<Output = ()> + 'static, root: u32) -> u32 {
    let id = with(|h| {
        let id = h.id();
        h.tasks.insert(
            id,
            Task {
                future: Some(Box::pin(future)),
                waker: Waker::from(Arc::new(TaskWaker(id))),
                root: if root == 0 { id } else { root },
                queued: true,
                deadlines: Vec::new(),
                armed: None,
            },
        );
        id
    });
    READY.with(|r| r.borrow_mut().push_back(id));
    id
}

/// A task that runs after the response: JavaScript keeps the request alive for it.
pub fn spawn_background(future: impl Future<Output = ()> + 'static) {
    let (_, root) = current();
    let id = spawn(future, root);
    emit(|o| {
        o.kind(Kind::Spawned).u32(id).u32(root);
    });
}

/// Polls every woken task until none can move, then returns the instructions written.
pub fn run() -> Vec<u8> {
    while let Some(id) = READY.with(|r| r.borrow_mut().pop_front()) {
        let taken = with(|h| {
            let task = h.tasks.get_mut(&id)?;
            task.queued = false;
            let future = task.future.take()?;
            let waker = task.waker.clone();
            h.current = id;
            Some((future, waker))
        });
        let Some((mut future, waker)) = taken else {
            continue;
        };
        let done = future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        if done {
            // Dropped outside the borrow: dropping cancels the task's pending operations.
            drop(future);
            with(|h| {
                h.tasks.remove(&id);
                h.out.kind(Kind::Ended).u32(id);
            });
        } else {
            with(|h| {
                if let Some(task) = h.tasks.get_mut(&id) {
                    task.future = Some(future);
                }
            });
        }
        with(|h| h.current = 0);
    }
    with(|h| h.out.take())
}

/// JavaScript's answer for `op`; wakes the task awaiting it. An op no longer awaited is
/// ignored.
pub fn reply(op: u32, reply: Reply) {
    let waker = with(|h| {
        let slot = h.ops.get_mut(&op)?;
        slot.reply = Some(reply);
        slot.waker.take()
    });
    if let Some(w) = waker {
        w.wake();
    }
}

/// The task's timer fired: wakes the sleeps that are due and re-arms for the next deadline.
pub fn timer_fired(task: u32) {
    let due: Vec<Waker> = with(|h| {
        let now = h.now;
        let Some(t) = h.tasks.get_mut(&task) else {
            return Vec::new();
        };
        t.armed = None;
        let due = t
            .deadlines
            .iter_mut()
            .filter(|(at, _, _)| is_due(*at, now))
            .filter_map(|(_, _, w)| w.take())
            .collect();
        let next = t
            .deadlines
            .iter()
            .filter(|(at, _, _)| !is_due(*at, now))
            .map(|(at, _, _)| *at)
            .reduce(f64::min);
        if let Some(at) = next {
            t.armed = Some(at);
            h.out.kind(Kind::Arm).u32(task).f64(at);
        }
        due
    });
    for w in due {
        w.wake();
    }
}

/// Drops a task (the client went away): its operations are cancelled as their futures drop.
pub fn cancel(task: u32) {
    let future = with(|h| h.tasks.remove(&task).and_then(|t| t.future));
    drop(future);
}

/// A timer may fire a little before the deadline it was set for (whole milliseconds).
fn is_due(at: f64, now: f64) -> bool {
    now + 1.0 >= at
}

/// An operation JavaScript runs; resolves with its [`Reply`]. Dropped before that, it tells
/// JavaScript to stop ([`Kind::Cancel`]).
pub struct Op {
    id: u32,
    finished: bool,
}

impl Op {
    /// Registers an operation; `write` puts its instruction, given the op's id and its task.
    pub fn new(write: impl FnOnce(&mut Out, u32, u32)) -> Op {
        let id = with(|h| {
            let id = h.id();
            h.ops.insert(
                id,
                Slot {
                    reply: None,
                    waker: None,
                },
            );
            let task = h.current;
            write(&mut h.out, id, task);
            id
        });
        Op {
            id,
            finished: false,
        }
    }

    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Future for Op {
    type Output = Reply;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        let id = self.id;
        let reply = with(|h| {
            let slot = h.ops.get_mut(&id)?;
            match slot.reply.take() {
                Some(r) => {
                    h.ops.remove(&id);
                    Some(r)
                }
                None => {
                    if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        slot.waker = Some(cx.waker().clone());
                    }
                    None
                }
            }
        });
        match reply {
            Some(r) => {
                self.finished = true;
                Poll::Ready(r)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        if !self.finished {
            let id = self.id;
            with_if_alive(|h| {
                if h.ops.remove(&id).is_some() {
                    h.out.kind(Kind::Cancel).u32(id);
                }
            });
        }
    }
}

/// Resolves at `at` (ms since the epoch): a deadline in its task's list, not a timer.
pub struct Sleep {
    at: f64,
    /// (task, key) once registered.
    entry: Option<(u32, u32)>,
}

impl Sleep {
    pub fn until(at: f64) -> Sleep {
        Sleep { at, entry: None }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at = self.at;
        let entry = self.entry;
        let registered = with(|h| {
            if is_due(at, h.now) {
                if let Some((task, key)) = entry {
                    if let Some(t) = h.tasks.get_mut(&task) {
                        t.deadlines.retain(|(_, k, _)| *k != key);
                    }
                }
                return None;
            }
            let waker = Some(cx.waker().clone());
            if let Some((task, key)) = entry {
                if let Some(t) = h.tasks.get_mut(&task) {
                    if let Some(d) = t.deadlines.iter_mut().find(|(_, k, _)| *k == key) {
                        d.2 = waker;
                    }
                }
                return Some((task, key));
            }
            let key = h.id();
            let task = h.current;
            let t = h.tasks.get_mut(&task)?;
            t.deadlines.push((at, key, waker));
            if t.armed.is_none_or(|armed| at < armed) {
                t.armed = Some(at);
                h.out.kind(Kind::Arm).u32(task).f64(at);
            }
            Some((task, key))
        });
        match registered {
            Some(e) => {
                self.entry = Some(e);
                Poll::Pending
            }
            None => {
                self.entry = None;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((task, key)) = self.entry.take() {
            with_if_alive(|h| {
                if let Some(t) = h.tasks.get_mut(&task) {
                    t.deadlines.retain(|(_, k, _)| *k != key);
                }
            });
        }
    }
}

#[cfg(test)]
#[path = "executor_tests.rs"]
mod tests;
