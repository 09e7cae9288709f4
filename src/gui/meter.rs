//! The numbers under the progress bar: bytes of the current phase, speed and time left.
//! Speed is the average over the last few seconds, so a stall shows within seconds and a
//! burst into the page cache does not promise a wrong ETA for long.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use blockprint::progress::Phase;

use super::job::Stage;

/// The window the speed is averaged over.
const WINDOW: Duration = Duration::from_secs(5);

/// Progress of the running job.
#[derive(Debug, Clone)]
pub struct Meter {
    /// The stage on screen.
    pub stage: Stage,
    /// The engine's phase, when it has one.
    pub phase: Option<Phase>,
    /// Bytes the phase will process, when known.
    pub total: Option<u64>,
    /// Bytes done in the phase.
    pub done: u64,
    /// Recent (time, bytes done) samples.
    samples: VecDeque<(Instant, u64)>,
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            stage: Stage::Preparing,
            phase: None,
            total: None,
            done: 0,
            samples: VecDeque::new(),
        }
    }
}

impl Meter {
    /// A new phase starts at `now`.
    pub fn phase(&mut self, stage: Stage, phase: Option<Phase>, total: Option<u64>, now: Instant) {
        self.stage = stage;
        self.phase = phase;
        self.total = total;
        self.done = 0;
        self.samples.clear();
        self.samples.push_back((now, 0));
    }

    /// `done` bytes of the phase are done at `now`.
    pub fn progress(&mut self, done: u64, now: Instant) {
        self.done = done;
        self.samples.push_back((now, done));
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > WINDOW)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
    }

    /// How far the phase is, 0 to 1, when its total is known.
    pub fn fraction(&self) -> Option<f64> {
        let total = self.total.filter(|t| *t > 0)?;
        Some((self.done as f64 / total as f64).clamp(0.0, 1.0))
    }

    /// Bytes per second over the recent window, once there is at least a second of samples.
    pub fn speed(&self) -> Option<f64> {
        let (first, last) = (self.samples.front()?, self.samples.back()?);
        let secs = last.0.duration_since(first.0).as_secs_f64();
        (secs >= 1.0).then(|| (last.1.saturating_sub(first.1)) as f64 / secs)
    }

    /// Time left in the phase at the recent speed.
    pub fn eta(&self) -> Option<Duration> {
        let total = self.total?;
        let speed = self.speed().filter(|s| *s > 0.0)?;
        let left = total.saturating_sub(self.done) as f64 / speed;
        (left.is_finite() && left < 1e7).then(|| Duration::from_secs_f64(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_and_eta_come_from_the_recent_window() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut meter = Meter::default();
        meter.phase(Stage::Writing, Some(Phase::Writing), Some(1000), at(0));
        assert_eq!(meter.speed(), None, "no speed before a second has passed");
        meter.progress(100, at(1));
        assert_eq!(meter.speed(), Some(100.0));
        assert_eq!(meter.eta(), Some(Duration::from_secs(9)));
        // A stall: after the window, the old fast samples no longer count.
        for s in 2..=10 {
            meter.progress(100 + (s - 1) * 10, at(s));
        }
        assert!((meter.speed().unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(meter.fraction(), Some(0.19));
        meter.phase(Stage::Verifying, Some(Phase::ReadBack), None, at(11));
        assert_eq!((meter.done, meter.fraction(), meter.eta()), (0, None, None));
    }
}
