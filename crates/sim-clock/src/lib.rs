//! The clock shared by everything in this project that waits: the Personalize emulator deriving
//! a job's status from elapsed time, the local Step Functions runner's `Wait` states and retry
//! delays, and poll loops. A [`Clock`] is the wall clock, a scaled clock that runs a fixed number
//! of times faster than the wall clock (optionally persisted so a restart never winds it back),
//! or a virtual clock that only moves when every task of a run is waiting on it, so a run whose
//! jobs take hours finishes in milliseconds and always sees the same times. Tasks that share a
//! virtual clock take a [`Hold`] for as long as they are running. For parallel branches to move
//! the clock together, their holds must exist before any branch can sleep: take each branch's
//! hold before spawning it, not inside the branch. A task that waits for other tasks rather
//! than for the clock must not keep a hold meanwhile, or the clock can never move. There is
//! nothing to run: the crate is a library, tested with `cargo test -p sim-clock`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// The largest distance from 1970, in seconds either way, that [`from_epoch_seconds`] represents
/// (about 3,170 years); farther times are clamped to it.
const MAX_EPOCH_SECONDS: f64 = 1e11;

/// Why a clock could not be made or moved.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// The speed of a scaled clock was zero, negative, infinite or NaN.
    #[error("clock speed must be a finite number greater than zero, got {0}")]
    InvalidSpeed(f64),

    /// The anchor file of a persisted clock exists but could not be read.
    #[error("cannot read clock anchor {}", path.display())]
    ReadAnchor {
        /// The anchor file.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },

    /// The anchor file of a persisted clock does not hold a valid anchor.
    #[error(
        "clock anchor {} is corrupt ({reason}): repair it, or delete the whole state folder: the state holds times from this clock, which must never go back",
        path.display()
    )]
    CorruptAnchor {
        /// The anchor file.
        path: PathBuf,
        /// What is wrong with its content.
        reason: String,
    },

    /// The anchor file of a persisted clock could not be written.
    #[error("cannot write clock anchor {}", path.display())]
    WriteAnchor {
        /// The anchor file.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },

    /// Time was moved by hand on a clock that follows the wall clock.
    #[error("only a virtual clock can be advanced by hand")]
    NotVirtual,
}

/// Seconds since 1970-01-01T00:00:00Z, the timestamp format of the AWS JSON protocols.
///
/// Times before 1970 give negative seconds.
pub fn epoch_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// The time `s` seconds after 1970-01-01T00:00:00Z, the inverse of [`epoch_seconds`].
///
/// Negative seconds give times before 1970. Seconds beyond about 3,170 years either way are
/// clamped to that distance, and NaN gives 1970 itself, so no input can panic.
pub fn from_epoch_seconds(s: f64) -> SystemTime {
    let s = if s.is_nan() {
        0.0
    } else {
        s.clamp(-MAX_EPOCH_SECONDS, MAX_EPOCH_SECONDS)
    };
    let distance = Duration::from_secs_f64(s.abs());
    if s >= 0.0 {
        UNIX_EPOCH + distance
    } else {
        UNIX_EPOCH - distance
    }
}

/// A source of the current time and of sleeps, shared by every task of a run.
///
/// Cloning is cheap and every clone reads and moves the same time.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
enum Inner {
    Real,
    Scaled {
        sim_start: SystemTime,
        real_start: Instant,
        speed: f64,
    },
    Virtual(Mutex<VirtualState>),
}

impl Clock {
    /// The wall clock.
    pub fn real() -> Clock {
        Clock::from_inner(Inner::Real)
    }

    /// A clock that starts at the wall clock's now and runs `speed` times faster than it.
    ///
    /// Fails unless `speed` is finite and greater than zero.
    pub fn scaled(speed: f64) -> Result<Clock, ClockError> {
        check_speed(speed)?;
        Ok(Clock::scaled_from(SystemTime::now(), speed))
    }

    /// A scaled clock whose time survives restarts, anchored in the JSON file at `path`.
    ///
    /// The anchor records a simulated time, the wall-clock time it was taken at, and the speed.
    /// When the file exists, simulated time is taken to have kept flowing while the process was
    /// down, at the speed it had: now is `simulated + (wall now - wall then) * old speed`, and
    /// never less than the anchored simulated time, even if the wall clock was stepped back.
    /// The clock then runs at the new `speed` from there, and a new anchor is written atomically
    /// (temporary file, fsync, rename). A missing file starts simulated time at the wall clock's
    /// now; a file that cannot be read or parsed is an error naming it, never a silent reset.
    ///
    /// Within a process time follows the monotonic clock. If the wall clock is stepped back
    /// while the process runs, the next restart resumes from the anchor by the wall clock and
    /// may land before the last time this process reported, though never before the anchor.
    pub fn scaled_persisted(speed: f64, path: &Path) -> Result<Clock, ClockError> {
        let (clock, anchor) = Self::scaled_persisted_unsaved(speed, path)?;
        anchor.save()?;
        Ok(clock)
    }

    /// As [`Clock::scaled_persisted`], but the new anchor is only written by
    /// [`UnsavedAnchor::save`]. A program that may still fail to start after making its clock
    /// saves the anchor once it has started: until then the file is untouched, so a failed
    /// start cannot change how fast simulated time ran while nothing was running.
    pub fn scaled_persisted_unsaved(
        speed: f64,
        path: &Path,
    ) -> Result<(Clock, UnsavedAnchor), ClockError> {
        check_speed(speed)?;

        let real_now = SystemTime::now();
        let sim_now = match read_anchor(path)? {
            Some(anchor) => anchor.resume(real_now),
            None => real_now,
        };
        let anchor = Anchor {
            simulated: sim_now,
            real: real_now,
            speed,
        };
        let unsaved = UnsavedAnchor {
            path: path.to_owned(),
            anchor,
        };
        Ok((Clock::scaled_from(sim_now, speed), unsaved))
    }

    /// A virtual clock at `start`: time never moves by itself.
    ///
    /// It jumps to the earliest pending deadline once no [`Hold`] is busy and someone sleeps,
    /// or by hand with [`Clock::advance`].
    pub fn virtual_at(start: SystemTime) -> Clock {
        Clock::from_inner(Inner::Virtual(Mutex::new(VirtualState {
            now: start,
            busy: 0,
            sleepers: BTreeMap::new(),
            next_id: 0,
        })))
    }

    fn scaled_from(sim_start: SystemTime, speed: f64) -> Clock {
        Clock::from_inner(Inner::Scaled {
            sim_start,
            real_start: Instant::now(),
            speed,
        })
    }

    fn from_inner(inner: Inner) -> Clock {
        Clock {
            inner: Arc::new(inner),
        }
    }

    /// The current time on this clock.
    pub fn now(&self) -> SystemTime {
        match &*self.inner {
            Inner::Real => SystemTime::now(),
            Inner::Scaled {
                sim_start,
                real_start,
                speed,
            } => later(*sim_start, stretch(real_start.elapsed(), *speed)),
            Inner::Virtual(state) => lock(state).now,
        }
    }

    /// How many times faster than the wall clock this clock runs; `None` for a virtual clock.
    pub fn speed(&self) -> Option<f64> {
        match &*self.inner {
            Inner::Real => Some(1.0),
            Inner::Scaled { speed, .. } => Some(*speed),
            Inner::Virtual(_) => None,
        }
    }

    /// Whether this clock is virtual, moving only when every task is waiting on it.
    pub fn is_virtual(&self) -> bool {
        matches!(&*self.inner, Inner::Virtual(_))
    }

    /// Sleeps until this clock reads `deadline` or later; returns at once if it already does.
    ///
    /// On a virtual clock the sleeping task counts as one task of the run for the duration of
    /// this one sleep: waiting while it sleeps, busy from the moment it is woken until this
    /// future completes. Between two sleeps it does not count at all, so the clock may move
    /// while it works; a task that must keep the clock still between sleeps takes a [`Hold`]
    /// and sleeps through it instead (sleeping here while holding one would never wake, since
    /// the hold stays busy).
    pub async fn sleep_until(&self, deadline: SystemTime) {
        match &*self.inner {
            Inner::Virtual(state) => sleep_virtual(state, deadline, Waiter::Implicit).await,
            _ => self.sleep_scaled(deadline).await,
        }
    }

    /// Sleeps for `d` of this clock's time, as [`Clock::sleep_until`] does.
    pub async fn sleep(&self, d: Duration) {
        self.sleep_until(later(self.now(), d)).await;
    }

    /// Registers one running task of a run; the virtual clock stays still while it is busy.
    ///
    /// The hold is busy except while sleeping through [`Hold::sleep_until`] or [`Hold::sleep`],
    /// and is released when dropped. On a wall or scaled clock a hold only sleeps.
    #[must_use = "a hold released at once keeps nothing still"]
    pub fn hold(&self) -> Hold {
        if let Inner::Virtual(state) = &*self.inner {
            lock(state).busy += 1;
        }
        Hold {
            clock: self.clone(),
        }
    }

    /// Moves a virtual clock forward by `d` and wakes every sleeper that is then due.
    ///
    /// Fails with [`ClockError::NotVirtual`] on a wall or scaled clock, which cannot be moved.
    pub fn advance(&self, d: Duration) -> Result<(), ClockError> {
        let Inner::Virtual(state) = &*self.inner else {
            return Err(ClockError::NotVirtual);
        };

        let mut state = lock(state);
        state.now = later(state.now, d);
        state.wake_due();
        state.advance_if_idle();
        Ok(())
    }

    async fn sleep_scaled(&self, deadline: SystemTime) {
        let speed = self.speed().unwrap_or(1.0);

        // Rounding between simulated and real durations, or a wall clock stepped back, can
        // wake us a little early: then sleep again for what is left.
        loop {
            let remaining = match deadline.duration_since(self.now()) {
                Ok(remaining) if !remaining.is_zero() => remaining,
                _ => return,
            };
            tokio::time::sleep(stretch(remaining, 1.0 / speed)).await;
        }
    }
}

/// One running task of a run on a virtual clock, which stays still while any hold is busy.
///
/// Sleeping through the hold marks it waiting; it is busy again from the moment the clock
/// wakes it, before the task resumes, so time cannot move twice before the task has done its
/// work. Dropping the hold releases it. Sleeps take `&mut self`: one task, one sleep at a time.
#[derive(Debug)]
pub struct Hold {
    clock: Clock,
}

impl Hold {
    /// The clock this hold keeps still.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Sleeps until the clock reads `deadline` or later, waiting rather than busy meanwhile.
    ///
    /// Returns at once, still busy, if the clock already reads `deadline`. If the sleep is
    /// cancelled, the hold is busy again.
    pub async fn sleep_until(&mut self, deadline: SystemTime) {
        match &*self.clock.inner {
            Inner::Virtual(state) => sleep_virtual(state, deadline, Waiter::Hold).await,
            _ => self.clock.sleep_scaled(deadline).await,
        }
    }

    /// Sleeps for `d` of the clock's time, as [`Hold::sleep_until`] does.
    pub async fn sleep(&mut self, d: Duration) {
        let deadline = later(self.clock.now(), d);
        self.sleep_until(deadline).await;
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Inner::Virtual(state) = &*self.clock.inner {
            let mut state = lock(state);
            state.busy -= 1;
            state.advance_if_idle();
        }
    }
}

/// The time of a virtual clock and the tasks of the run that share it.
#[derive(Debug)]
struct VirtualState {
    now: SystemTime,
    /// Holds not sleeping, plus implicit holds woken but not yet finished.
    busy: usize,
    /// Pending sleepers by deadline, then by arrival; removed when woken.
    sleepers: BTreeMap<(SystemTime, u64), oneshot::Sender<()>>,
    next_id: u64,
}

impl VirtualState {
    /// Jumps to the earliest deadline if no task is busy, waking every sleeper then due.
    fn advance_if_idle(&mut self) {
        if self.busy > 0 {
            return;
        }
        if let Some(&(deadline, _)) = self.sleepers.keys().next() {
            self.now = self.now.max(deadline);
            self.wake_due();
        }
    }

    /// Wakes every sleeper whose deadline has come, each becoming busy as it is woken.
    fn wake_due(&mut self) {
        while let Some(sleeper) = self.sleepers.first_entry() {
            if sleeper.key().0 > self.now {
                break;
            }
            self.busy += 1;
            // A closed receiver means that sleep is being dropped; its guard finds it woken.
            let _ = sleeper.remove().send(());
        }
    }
}

/// Who is sleeping on a virtual clock.
#[derive(Clone, Copy, Debug)]
enum Waiter {
    /// A [`Hold`], which stays registered after the sleep.
    Hold,
    /// [`Clock::sleep_until`], registered for this one sleep only.
    Implicit,
}

async fn sleep_virtual(state: &Mutex<VirtualState>, deadline: SystemTime, waiter: Waiter) {
    let (pending, woken) = {
        let mut guard = lock(state);
        if deadline <= guard.now {
            return;
        }

        let id = guard.next_id;
        guard.next_id += 1;
        let (wake, woken) = oneshot::channel();
        guard.sleepers.insert((deadline, id), wake);
        if let Waiter::Hold = waiter {
            guard.busy -= 1;
        }
        guard.advance_if_idle();

        let pending = PendingSleep {
            state,
            key: (deadline, id),
            waiter,
        };
        (pending, woken)
    };

    // The sender is only dropped after sending, so either result means woken.
    let _ = woken.await;
    drop(pending);
}

/// Settles the counts when a virtual sleep ends, whether it completed or was dropped early.
struct PendingSleep<'a> {
    state: &'a Mutex<VirtualState>,
    key: (SystemTime, u64),
    waiter: Waiter,
}

impl Drop for PendingSleep<'_> {
    fn drop(&mut self) {
        let mut state = lock(self.state);
        let woken = state.sleepers.remove(&self.key).is_none();
        match (self.waiter, woken) {
            // A hold cancelled while waiting is running again.
            (Waiter::Hold, false) => state.busy += 1,
            // An implicit hold ends with its sleep; it was made busy when woken.
            (Waiter::Implicit, true) => state.busy -= 1,
            // A woken hold is already busy; a waiting implicit sleeper was never busy.
            (Waiter::Hold, true) | (Waiter::Implicit, false) => {}
        }
        state.advance_if_idle();
    }
}

/// The JSON content of a persisted clock's anchor file.
///
/// The anchor of a persisted clock, made but not yet written to its file.
#[derive(Debug)]
#[must_use = "the clock is not persisted until its anchor is saved"]
pub struct UnsavedAnchor {
    path: PathBuf,
    anchor: Anchor,
}

impl UnsavedAnchor {
    /// Writes the anchor atomically (temporary file, fsync, rename).
    pub fn save(self) -> Result<(), ClockError> {
        write_anchor(&self.path, &self.anchor)?;
        let simulated = epoch_seconds(self.anchor.simulated);
        tracing::debug!(path = %self.path.display(), simulated, speed = self.anchor.speed, "clock anchored");
        Ok(())
    }
}

/// Times are stored as whole seconds and nanoseconds since 1970 (serde's form for
/// `SystemTime`), not as float seconds, so that reading an anchor back never rounds time down.
#[derive(Debug, Deserialize, Serialize)]
struct Anchor {
    simulated: SystemTime,
    real: SystemTime,
    speed: f64,
}

impl Anchor {
    /// The simulated time at `real_now`, had the clock kept running at the anchored speed.
    fn resume(&self, real_now: SystemTime) -> SystemTime {
        let elapsed = real_now.duration_since(self.real).unwrap_or_default();
        later(self.simulated, stretch(elapsed, self.speed))
    }
}

fn read_anchor(path: &Path) -> Result<Option<Anchor>, ClockError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ClockError::ReadAnchor {
                path: path.to_owned(),
                source,
            });
        }
    };

    let corrupt = |reason: String| ClockError::CorruptAnchor {
        path: path.to_owned(),
        reason,
    };
    let anchor: Anchor = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    check_speed(anchor.speed).map_err(|e| corrupt(e.to_string()))?;
    Ok(Some(anchor))
}

fn write_anchor(path: &Path, anchor: &Anchor) -> Result<(), ClockError> {
    let fail = |source: io::Error| ClockError::WriteAnchor {
        path: path.to_owned(),
        source,
    };
    let json = serde_json::to_vec_pretty(anchor).map_err(|e| fail(io::Error::other(e)))?;

    let mut temp_name = path
        .file_name()
        .ok_or_else(|| {
            fail(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a file name",
            ))
        })?
        .to_os_string();
    temp_name.push(".tmp");
    let temp = path.with_file_name(temp_name);

    let mut file = File::create(&temp).map_err(fail)?;
    file.write_all(&json).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&temp, path).map_err(fail)?;

    // The rename itself is only durable once the directory holding it is synced.
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(dir).and_then(|d| d.sync_all()).map_err(fail)?;
    }
    Ok(())
}

fn check_speed(speed: f64) -> Result<(), ClockError> {
    if speed.is_finite() && speed > 0.0 {
        Ok(())
    } else {
        Err(ClockError::InvalidSpeed(speed))
    }
}

/// `d` times `factor`, saturating instead of overflowing.
fn stretch(d: Duration, factor: f64) -> Duration {
    if factor == 1.0 {
        return d;
    }
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

/// `t` plus `d`, saturating at the farthest time [`from_epoch_seconds`] represents.
fn later(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d)
        .unwrap_or_else(|| from_epoch_seconds(MAX_EPOCH_SECONDS).max(t))
}

/// Locks the virtual state; no code panics while holding it, so poisoning carries no meaning.
fn lock(state: &Mutex<VirtualState>) -> MutexGuard<'_, VirtualState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    use tokio::sync::{Barrier, mpsc};

    use super::*;

    fn start() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    /// `s` seconds after [`start`].
    fn at(s: u64) -> SystemTime {
        start() + Duration::from_secs(s)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Polls a future once, as an executor would, without waiting for it.
    fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Lets every spawned task run until it waits (the test runtime has one thread).
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    /// Fails the test instead of hanging it when a virtual clock never moves.
    async fn within<F: Future>(future: F) -> F::Output {
        tokio::time::timeout(secs(5), future)
            .await
            .expect("the virtual clock should have moved")
    }

    #[tokio::test]
    async fn virtual_clock_stays_still_while_a_hold_is_busy() {
        let clock = Clock::virtual_at(start());
        let hold = clock.hold();
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move {
                clock.sleep(secs(10)).await;
                clock.now()
            }
        });

        settle().await;
        assert!(!sleeper.is_finished());
        assert_eq!(clock.now(), start());

        drop(hold);
        assert_eq!(clock.now(), at(10));
        assert_eq!(within(sleeper).await.unwrap(), at(10));
    }

    #[tokio::test]
    async fn holds_sleeping_to_different_deadlines_move_the_clock_once_per_wake() {
        let clock = Clock::virtual_at(start());
        let mut first = clock.hold();
        let mut second = clock.hold();
        let (woke_tx, mut woke) = mpsc::unbounded_channel();
        let (go_tx, go) = tokio::sync::oneshot::channel::<()>();

        tokio::spawn({
            let woke_tx = woke_tx.clone();
            async move {
                first.sleep_until(at(10)).await;
                woke_tx.send(("first", first.clock().now())).unwrap();
                // Waiting on something other than the clock: the hold stays busy.
                go.await.unwrap();
                first.sleep_until(at(30)).await;
                woke_tx.send(("first", first.clock().now())).unwrap();
            }
        });
        tokio::spawn(async move {
            second.sleep_until(at(20)).await;
            woke_tx.send(("second", second.clock().now())).unwrap();
        });

        assert_eq!(within(woke.recv()).await, Some(("first", at(10))));
        settle().await;
        assert_eq!(clock.now(), at(10));
        assert!(woke.try_recv().is_err());

        go_tx.send(()).unwrap();
        assert_eq!(within(woke.recv()).await, Some(("second", at(20))));
        assert_eq!(within(woke.recv()).await, Some(("first", at(30))));
    }

    #[tokio::test]
    async fn second_hold_wakes_only_once_the_first_is_dropped() {
        let clock = Clock::virtual_at(start());
        let mut first = clock.hold();
        let mut second = clock.hold();
        let (done_tx, done) = tokio::sync::oneshot::channel::<()>();

        let first_task = tokio::spawn(async move {
            first.sleep_until(at(10)).await;
            done.await.unwrap();
        });
        let second_task = tokio::spawn(async move {
            second.sleep_until(at(20)).await;
            second.clock().now()
        });

        settle().await;
        assert_eq!(clock.now(), at(10));
        assert!(!second_task.is_finished());

        done_tx.send(()).unwrap();
        within(first_task).await.unwrap();
        assert_eq!(within(second_task).await.unwrap(), at(20));
    }

    #[tokio::test]
    async fn holds_with_the_same_deadline_wake_together_with_one_advance() {
        let clock = Clock::virtual_at(start());
        let barrier = Arc::new(Barrier::new(3));
        let (woke_tx, mut woke) = mpsc::unbounded_channel();

        // Both holds are taken before either task runs, as a run's branches would be.
        for mut hold in [clock.hold(), clock.hold()] {
            let barrier = barrier.clone();
            let woke_tx = woke_tx.clone();
            tokio::spawn(async move {
                hold.sleep_until(at(10)).await;
                woke_tx.send(hold.clock().now()).unwrap();
                // Each stays busy here, so a second advance could never happen.
                barrier.wait().await;
            });
        }

        assert_eq!(within(woke.recv()).await, Some(at(10)));
        assert_eq!(within(woke.recv()).await, Some(at(10)));
        assert_eq!(clock.now(), at(10));
        within(barrier.wait()).await;
    }

    #[tokio::test]
    async fn implicit_sleep_without_a_hold_advances_at_once() {
        let clock = Clock::virtual_at(start());

        within(clock.sleep(secs(5))).await;

        assert_eq!(clock.now(), at(5));
    }

    #[tokio::test]
    async fn two_hour_sleep_on_a_virtual_clock_moves_it_two_hours() {
        let clock = Clock::virtual_at(start());
        let mut hold = clock.hold();

        within(hold.sleep(secs(2 * 3600))).await;

        assert_eq!(clock.now(), at(2 * 3600));
    }

    #[tokio::test]
    async fn sleep_with_a_past_deadline_returns_without_moving_the_clock() {
        let clock = Clock::virtual_at(start());
        let mut hold = clock.hold();
        let _busy = clock.hold();

        within(hold.sleep_until(start() - secs(1))).await;
        within(hold.sleep(Duration::ZERO)).await;
        within(clock.sleep_until(start())).await;

        assert_eq!(clock.now(), start());
    }

    #[tokio::test]
    async fn cancelled_sleep_is_forgotten_and_a_later_sleep_still_advances() {
        let clock = Clock::virtual_at(start());
        let hold = clock.hold();

        let cancelled =
            tokio::time::timeout(Duration::from_millis(10), clock.sleep(secs(10))).await;
        assert!(cancelled.is_err());
        drop(hold);
        assert_eq!(clock.now(), start());

        within(clock.sleep(secs(5))).await;
        assert_eq!(clock.now(), at(5));
    }

    #[tokio::test]
    async fn cancelled_hold_sleep_leaves_the_hold_busy() {
        let clock = Clock::virtual_at(start());
        let mut hold = clock.hold();
        let other = clock.hold();

        tokio::select! {
            biased;
            _ = hold.sleep(secs(10)) => panic!("the other hold keeps the clock still"),
            _ = std::future::ready(()) => {}
        }
        drop(other);
        assert_eq!(clock.now(), start());

        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(secs(5)).await }
        });
        settle().await;
        assert!(!sleeper.is_finished());
        assert_eq!(clock.now(), start());

        drop(hold);
        within(sleeper).await.unwrap();
        assert_eq!(clock.now(), at(5));
    }

    #[tokio::test]
    async fn woken_hold_is_busy_before_its_task_resumes() {
        let clock = Clock::virtual_at(start());
        let mut first = clock.hold();
        let mut second = clock.hold();

        let mut first_sleep = Box::pin(first.sleep_until(at(10)));
        assert!(poll_once(first_sleep.as_mut()).is_pending());
        let mut second_sleep = Box::pin(second.sleep_until(at(20)));
        assert!(poll_once(second_sleep.as_mut()).is_pending());
        assert_eq!(clock.now(), at(10));

        // A new sleeper arrives before the woken task has run: the clock must not move on.
        let mut late = Box::pin(clock.sleep_until(at(30)));
        assert!(poll_once(late.as_mut()).is_pending());
        assert_eq!(clock.now(), at(10));
        assert!(poll_once(second_sleep.as_mut()).is_pending());

        assert!(poll_once(first_sleep.as_mut()).is_ready());
        assert_eq!(clock.now(), at(10));
    }

    #[tokio::test]
    async fn woken_hold_sleep_dropped_before_polling_keeps_the_hold_busy() {
        let clock = Clock::virtual_at(start());
        let mut first = clock.hold();
        let mut second = clock.hold();

        let mut first_sleep = Box::pin(first.sleep_until(at(10)));
        assert!(poll_once(first_sleep.as_mut()).is_pending());
        let mut second_sleep = Box::pin(second.sleep_until(at(20)));
        assert!(poll_once(second_sleep.as_mut()).is_pending());
        assert_eq!(clock.now(), at(10));

        drop(first_sleep);
        assert!(poll_once(second_sleep.as_mut()).is_pending());
        assert_eq!(clock.now(), at(10));

        drop(first);
        assert_eq!(clock.now(), at(20));
        assert!(poll_once(second_sleep.as_mut()).is_ready());
    }

    #[tokio::test]
    async fn woken_implicit_sleep_dropped_before_polling_lets_the_clock_move() {
        let clock = Clock::virtual_at(start());
        let mut hold = clock.hold();

        let mut implicit = Box::pin(clock.sleep_until(at(10)));
        assert!(poll_once(implicit.as_mut()).is_pending());
        let mut held = Box::pin(hold.sleep_until(at(20)));
        assert!(poll_once(held.as_mut()).is_pending());
        assert_eq!(clock.now(), at(10));

        drop(implicit);
        assert_eq!(clock.now(), at(20));
        assert!(poll_once(held.as_mut()).is_ready());
    }

    #[tokio::test]
    async fn advance_by_hand_wakes_sleepers_once_due() {
        let clock = Clock::virtual_at(start());
        let mut hold = clock.hold();
        let _busy = clock.hold();
        let mut sleep = Box::pin(hold.sleep(secs(30)));
        assert!(poll_once(sleep.as_mut()).is_pending());

        clock.advance(secs(10)).unwrap();
        assert_eq!(clock.now(), at(10));
        assert!(poll_once(sleep.as_mut()).is_pending());

        clock.advance(secs(25)).unwrap();
        assert_eq!(clock.now(), at(35));
        assert!(poll_once(sleep.as_mut()).is_ready());
    }

    #[test]
    fn advance_on_a_wall_or_scaled_clock_is_an_error() {
        for clock in [Clock::real(), Clock::scaled(10.0).unwrap()] {
            assert!(matches!(
                clock.advance(secs(1)),
                Err(ClockError::NotVirtual)
            ));
        }
    }

    #[test]
    fn accessors_tell_the_kinds_of_clock_apart() {
        assert_eq!(Clock::real().speed(), Some(1.0));
        assert!(!Clock::real().is_virtual());
        assert_eq!(Clock::scaled(60.0).unwrap().speed(), Some(60.0));
        assert_eq!(Clock::virtual_at(start()).speed(), None);
        assert!(Clock::virtual_at(start()).is_virtual());
    }

    #[tokio::test]
    async fn scaled_clock_runs_speed_times_faster_than_the_wall_clock() {
        let clock = Clock::scaled(1000.0).unwrap();
        let before = clock.now();

        tokio::time::sleep(Duration::from_millis(20)).await;

        let simulated = clock.now().duration_since(before).unwrap();
        assert!(simulated >= secs(10), "only {simulated:?} passed");
    }

    #[tokio::test]
    async fn scaled_and_wall_clock_sleeps_reach_their_deadline() {
        let scaled = Clock::scaled(1000.0).unwrap();
        let deadline = scaled.now() + secs(60);
        within(scaled.sleep_until(deadline)).await;
        assert!(scaled.now() >= deadline);

        let real = Clock::real();
        let mut hold = real.hold();
        let deadline = real.now() + Duration::from_millis(5);
        within(hold.sleep_until(deadline)).await;
        assert!(real.now() >= deadline);
    }

    #[tokio::test]
    async fn persisted_clock_resumes_at_the_old_speed_and_never_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");

        let before_restart = {
            let clock = Clock::scaled_persisted(1000.0, &path).unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            clock.now()
        };
        let reopened = Clock::scaled_persisted(1.0, &path).unwrap();

        assert!(reopened.now() >= before_restart);
        assert_eq!(reopened.speed(), Some(1.0));
        let anchor: Anchor = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(anchor.speed, 1.0);
        assert!(!dir.path().join("clock.json.tmp").exists());
    }

    #[test]
    fn persisted_clock_keeps_the_anchor_when_the_wall_clock_is_behind_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");
        let anchored = SystemTime::now() + secs(86_400);
        let anchor = Anchor {
            simulated: anchored,
            real: SystemTime::now() + secs(3600),
            speed: 50.0,
        };
        fs::write(&path, serde_json::to_string(&anchor).unwrap()).unwrap();

        let clock = Clock::scaled_persisted(2.0, &path).unwrap();

        assert!(clock.now() >= anchored);
    }

    #[test]
    fn corrupt_anchor_is_an_error_naming_the_file_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");

        let backwards = Anchor {
            simulated: start(),
            real: start(),
            speed: -1.0,
        };
        for content in [
            "{not json".to_owned(),
            serde_json::to_string(&backwards).unwrap(),
        ] {
            fs::write(&path, &content).unwrap();

            let error = Clock::scaled_persisted(10.0, &path).unwrap_err();

            assert!(matches!(error, ClockError::CorruptAnchor { .. }));
            assert!(error.to_string().contains(&path.display().to_string()));
            assert_eq!(fs::read_to_string(&path).unwrap(), content);
        }
    }

    #[test]
    fn invalid_speeds_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");

        for speed in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(
                Clock::scaled(speed),
                Err(ClockError::InvalidSpeed(_))
            ));
            assert!(matches!(
                Clock::scaled_persisted(speed, &path),
                Err(ClockError::InvalidSpeed(_))
            ));
        }
        assert!(!path.exists());
    }

    #[test]
    fn epoch_seconds_round_trip_on_both_sides_of_1970() {
        for s in [0.0, 1_700_000_000.25, -1.5, -86_400.0] {
            assert_eq!(epoch_seconds(from_epoch_seconds(s)), s);
        }
        assert_eq!(
            from_epoch_seconds(-1.5),
            UNIX_EPOCH - Duration::from_millis(1500)
        );
    }

    #[test]
    fn epoch_seconds_out_of_range_are_clamped() {
        assert_eq!(from_epoch_seconds(f64::NAN), UNIX_EPOCH);
        assert_eq!(
            from_epoch_seconds(f64::INFINITY),
            from_epoch_seconds(MAX_EPOCH_SECONDS)
        );
        assert_eq!(
            from_epoch_seconds(f64::NEG_INFINITY),
            from_epoch_seconds(-MAX_EPOCH_SECONDS)
        );
    }
}
