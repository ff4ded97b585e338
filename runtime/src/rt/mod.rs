//! [`Runtime`], [`Handle`] and [`Builder`]: creating a runtime, entering it, `block_on`,
//! shutdown.
//!
//! One concept per file: `context.rs` (thread-locals), `handle.rs` ([`Handle`]), `block_on.rs`
//! (the parker and both `block_on` flavours), `runtime.rs` ([`Runtime`]), `builder.rs` ([`Builder`]).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use crate::blocking::BlockingPool;
use crate::driver::Driver;
use crate::metrics::RuntimeMetrics;
use crate::scheduler::worker::{self, MainFuture, NoMain};
use crate::scheduler::{Flavor, Shared, WorkerCore};
use crate::sync::lock;
use crate::task::raw::{Schedule, Task, TaskRef};
use crate::task::JoinHandle;
use crate::unwind::{drop_quietly, quietly, thread_name};

mod block_on;
mod builder;
mod context;
mod handle;
mod runtime;

use block_on::*;
pub use builder::Builder;
pub(crate) use context::enter_context;
use context::*;
use handle::WeakHandle;
pub use handle::{Handle, TryCurrentError};
pub use runtime::Runtime;
