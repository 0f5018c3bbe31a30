//! What the benches share: percentiles, a process's memory from /proc, and
//! a tracing layer that times spans by name (so a bench can take a turn
//! apart without changing the library).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The `p` quantile (0..=1) of `sorted`, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// `p50 … ms, p99 … ms, max … ms` of `samples` (sorted here).
pub fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    format!(
        "p50 {}, p99 {}, max {} (n = {})",
        ms(percentile(samples, 0.50)),
        ms(percentile(samples, 0.99)),
        ms(samples.last().copied().unwrap_or_default()),
        samples.len()
    )
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// A number field of /proc/<pid>/status: KiB for `VmRSS`, `VmHWM`; a count for `Threads`.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A `u64` from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One closed root span and the time its named descendants took.
#[derive(Debug, Clone, Default)]
pub struct SpanTiming {
    /// Creation to close of the root span.
    pub total: Duration,
    /// Σ creation-to-close of descendant spans, by span name.
    pub children: HashMap<&'static str, Duration>,
}

impl SpanTiming {
    pub fn child(&self, name: &str) -> Duration {
        self.children.get(name).copied().unwrap_or_default()
    }
}

struct Timed {
    opened: Instant,
    children: HashMap<&'static str, Duration>,
}

/// Times every span named `root` and, inside it, spans named in `children`
/// (wall time from creation to close, which includes time spent awaiting).
#[derive(Clone)]
pub struct SpanTimer {
    root: &'static str,
    children: &'static [&'static str],
    closed: Arc<Mutex<Vec<SpanTiming>>>,
}

impl SpanTimer {
    pub fn new(root: &'static str, children: &'static [&'static str]) -> Self {
        Self {
            root,
            children,
            closed: Arc::default(),
        }
    }

    /// The root spans closed so far, emptied.
    pub fn take(&self) -> Vec<SpanTiming> {
        std::mem::take(&mut self.closed.lock().unwrap())
    }
}

impl<S> Layer<S> for SpanTimer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let name = attrs.metadata().name();
        if (name == self.root || self.children.contains(&name))
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(Timed {
                opened: Instant::now(),
                children: HashMap::new(),
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let name = span.name();
        let Some(timed) = span.extensions_mut().remove::<Timed>() else {
            return;
        };
        let took = timed.opened.elapsed();
        if name == self.root {
            self.closed.lock().unwrap().push(SpanTiming {
                total: took,
                children: timed.children,
            });
            return;
        }
        // A child: add its time to the nearest enclosing root span.
        if let Some(root) = span.scope().skip(1).find(|s| s.name() == self.root)
            && let Some(t) = root.extensions_mut().get_mut::<Timed>()
        {
            *t.children.entry(name).or_default() += took;
        }
    }
}

/// The Slack operator the in-process benches speak as.
pub const TEAM: &str = "T0BENCH";
pub const USER: &str = "U0BENCH";

/// A message from [`TEAM`]/[`USER`] in a thread of its own (numbered `i`):
/// a first question, no history.
pub fn slack_event(i: usize, text: &str) -> chatops::domain::ChatEvent {
    use chatops::domain::{Caller, ChannelId, ChatEvent, RequestId, Subject, Surface};
    ChatEvent {
        request_id: RequestId::generate(),
        surface: Surface::Slack,
        event_id: None,
        caller: Caller {
            subject: Subject::slack(TEAM, USER),
            groups: vec![],
            channel: ChannelId::new(Surface::Slack, "C0BENCH").unwrap(),
        },
        thread: Some(format!("1700000000.{i:06}")),
        text: text.to_string(),
    }
}
