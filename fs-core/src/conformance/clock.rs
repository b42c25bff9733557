//! A wall clock for plugin tests that moves with tokio's clock.
//!
//! A plugin that stamps files with [`SystemTime::now`] reads its wall time through one function
//! instead, which calls [`wall_now`] in the plugin's own tests (`#[cfg(test)]`) and
//! [`SystemTime::now`] otherwise. Under `#[tokio::test(start_paused = true)]` the test then sets
//! the time exactly with `tokio::time::advance`: no sleeping, and differences it can assert to the
//! nanosecond. (tokio's clock only pauses when the `test-util` feature of tokio is on, as it is in
//! the dev-dependencies of the plugins that use this.)

use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

/// Wall time that moves exactly as tokio's clock does: the system's time when first called, plus
/// however far tokio's [`Instant`](tokio::time::Instant) has moved since. Outside a paused runtime
/// that is real time (monotonic, unlike [`SystemTime::now`]); inside one it stands still until
/// the test advances it.
pub fn wall_now() -> SystemTime {
    static ANCHOR: OnceLock<(SystemTime, Instant)> = OnceLock::new();
    let &(wall, mono) = ANCHOR.get_or_init(|| (SystemTime::now(), Instant::now()));
    let now = tokio::time::Instant::now().into_std();
    // A paused runtime created before the anchor was taken reads earlier than it.
    match now.checked_duration_since(mono) {
        Some(ahead) => wall + ahead,
        None => wall - mono.duration_since(now),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wall_now_moves_exactly_with_a_paused_clock() {
        let start = wall_now();
        assert_eq!(wall_now(), start, "a paused clock stands still");
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(
            wall_now().duration_since(start).unwrap(),
            Duration::from_millis(1500)
        );
    }
}
