//! A first-in, first-out queue for the replay's sliding windows, kept in
//! one `Vec` with a moving front so that the live entries are one slice.
//!
//! The replay pushes at the back and drops from the front once per sync;
//! `VecDeque`'s wrap-around indexing cost more than the work it guarded.
//! The dropped front is reclaimed when it outgrows the live part.

/// A queue whose live entries are `items[head..]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Window<T> {
    items: Vec<T>,
    head: usize,
}

impl<T> Default for Window<T> {
    fn default() -> Self {
        Window {
            items: Vec::new(),
            head: 0,
        }
    }
}

impl<T: Copy> Window<T> {
    /// The live entries, oldest first.
    pub fn as_slice(&self) -> &[T] {
        &self.items[self.head..]
    }

    /// The oldest live entry.
    pub fn front(&self) -> Option<&T> {
        self.items.get(self.head)
    }

    /// The newest live entry.
    pub fn back(&self) -> Option<&T> {
        if self.items.len() > self.head {
            self.items.last()
        } else {
            None
        }
    }

    /// Appends an entry.
    pub fn push_back(&mut self, item: T) {
        if self.head > 32 && self.head * 2 > self.items.len() {
            self.items.drain(..self.head);
            self.head = 0;
        }
        self.items.push(item);
    }

    /// Drops the oldest live entry.
    pub fn pop_front(&mut self) {
        if self.head < self.items.len() {
            self.head += 1;
        }
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.items.clear();
        self.head = 0;
    }

    /// Drops the newest live entry.
    pub fn pop_back(&mut self) {
        if self.items.len() > self.head {
            self.items.pop();
        }
    }

    /// The number of live entries.
    pub fn len(&self) -> usize {
        self.items.len() - self.head
    }

    /// Whether there is no live entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a pod ready since `ready_at` reads, milli-units: the mean of the
/// shares the metric window holds from then on (0 with none).
pub(crate) fn reading_since(shares: &Window<(i64, f64)>, ready_at: i64) -> i64 {
    let (sum, n) = shares
        .as_slice()
        .iter()
        .filter(|(ts, _)| *ts >= ready_at)
        .fold((0.0, 0u32), |(s, n), (_, v)| (s + v, n + 1));
    let mean = if n > 0 { sum / f64::from(n) } else { 0.0 };
    round_to_milli(mean)
}

/// `(x * 1000.0).round() as i64` (what `Replay::pod_view` reports), with
/// the rounding done by a truncating conversion where that is exact: the
/// baseline x86-64 target has no rounding instruction, and the library call
/// was a tenth of a replay.
pub(crate) fn round_to_milli(x: f64) -> i64 {
    let m = x * 1000.0;
    // Below 2^52 every non-negative double's fractional part is exact.
    if (0.0..4_503_599_627_370_496.0).contains(&m) {
        let whole = m as i64;
        if m - whole as f64 >= 0.5 {
            whole + 1
        } else {
            whole
        }
    } else {
        m.round() as i64
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::{round_to_milli, Window};

    #[test]
    fn behaves_like_a_vecdeque_under_mixed_pushes_and_pops() {
        let mut w: Window<u64> = Window::default();
        let mut d: VecDeque<u64> = VecDeque::new();
        // A deterministic mix of operations, long enough to reclaim the
        // front many times.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..100_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 5 {
                0 | 1 => {
                    w.push_back(i);
                    d.push_back(i);
                }
                2 => {
                    w.pop_front();
                    d.pop_front();
                }
                3 => {
                    w.pop_back();
                    d.pop_back();
                }
                4 if x.is_multiple_of(97) => {
                    w.clear();
                    d.clear();
                }
                _ => {
                    w.push_back(i);
                    d.push_back(i);
                    w.pop_front();
                    d.pop_front();
                }
            }
            assert_eq!(w.front(), d.front());
            assert_eq!(w.back(), d.back());
            assert_eq!(w.len(), d.len());
            assert!(w.as_slice().iter().eq(d.iter()));
        }
    }

    #[test]
    fn rounding_to_milli_units_matches_the_library_round() {
        let mut values = vec![
            0.0,
            -0.0,
            0.0005,
            0.0004999999999999999,
            0.0015,
            0.0025,
            0.49999999999999994,
            1.0e-320,
            4.503599627370495e12,
            4.503599627370497e12,
            1.0e300,
            -0.0015,
            -2.5,
            f64::INFINITY,
            f64::NAN,
        ];
        // Every half-milli boundary below 10 cores, and its neighbours.
        for k in 0..20_000u32 {
            let v = f64::from(k) / 2000.0;
            values.extend([v, v.next_up(), v.next_down()]);
        }
        for x in values {
            assert_eq!(round_to_milli(x), (x * 1000.0).round() as i64, "{x:e}");
        }
    }
}
