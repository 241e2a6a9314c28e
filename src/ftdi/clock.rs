//! TCK clock arithmetic for the FTDI high-speed MPSSE (FT232H / FT2232H / FT4232H).
//!
//! With the divide-by-5 prescaler disabled the MPSSE clock is 60 MHz and TCK is
//! `60 MHz / ((1 + divisor) * 2)` = `30 MHz / (1 + divisor)`, divisor 0..=0xFFFF.

/// TCK frequency with divisor 0, in Hz.
pub const BASE_TCK_HZ: u64 = 30_000_000;

/// The largest value command 0x86 accepts.
pub const MAX_DIVISOR: u16 = 0xFFFF;

/// A chosen clock setting: the divisor to program and the period it really gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TckSetting {
    pub divisor: u16,
    /// The applied period in nanoseconds, rounded up.
    pub period_ns: u32,
}

/// Period in ns produced by a divisor, rounded to the nearest nanosecond (33 for 30 MHz,
/// 67 for 15 MHz), so a client that asks again for the period it was given gets the same
/// clock.
pub fn period_for_divisor(divisor: u16) -> u32 {
    let num = (u64::from(divisor) + 1) * 1_000_000_000;
    ((num + BASE_TCK_HZ / 2) / BASE_TCK_HZ) as u32
}

/// Picks the fastest clock whose period (to the nanosecond) is not shorter than
/// `requested_ns`, and no faster than `max_hz`. Requests beyond the slowest clock get the
/// slowest clock.
pub fn setting_for_period(requested_ns: u32, max_hz: u64) -> TckSetting {
    // Smallest divisor d whose rounded period (1 + d) / 30 MHz is >= the request, i.e.
    // (1 + d) * 1e9 / 30e6 >= requested - 0.5 ns.
    let want = (u64::from(requested_ns) * 2)
        .saturating_sub(1)
        .saturating_mul(BASE_TCK_HZ)
        .div_ceil(2_000_000_000);
    let min_for_cap = BASE_TCK_HZ.div_ceil(max_hz.max(1));
    let d = want.max(min_for_cap).max(1) - 1;
    let divisor = d.min(u64::from(MAX_DIVISOR)) as u16;
    TckSetting {
        divisor,
        period_ns: period_for_divisor(divisor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_frequencies() {
        assert_eq!(setting_for_period(33, 30_000_000).divisor, 0);
        assert_eq!(setting_for_period(34, 30_000_000).divisor, 1);
        assert_eq!(setting_for_period(33, 30_000_000).period_ns, 33);
        assert_eq!(setting_for_period(67, 30_000_000).divisor, 1); // 15 MHz echoed back
        assert_eq!(setting_for_period(100, 30_000_000).divisor, 2); // 10 MHz exactly
        assert_eq!(setting_for_period(100, 30_000_000).period_ns, 100);
        assert_eq!(setting_for_period(1000, 30_000_000).period_ns, 1000); // 1 MHz
        assert_eq!(setting_for_period(0, 30_000_000).divisor, 0);
        assert_eq!(setting_for_period(u32::MAX, 30_000_000).divisor, 0xFFFF);
    }

    #[test]
    fn never_faster_than_requested_and_stable_on_echo() {
        for req in (1..100_000u32).step_by(7) {
            let s = setting_for_period(req, 30_000_000);
            let real_ps = (u64::from(s.divisor) + 1) * 1_000_000_000_000 / BASE_TCK_HZ;
            if s.divisor > 0 && s.divisor < MAX_DIVISOR {
                // Never faster than asked, beyond the half nanosecond of rounding.
                assert!(
                    real_ps + 500 >= u64::from(req) * 1000,
                    "req {req} got {s:?}"
                );
                assert!(s.period_ns >= req, "req {req} got {s:?}");
                // The next faster divisor would have been too fast.
                assert!(
                    period_for_divisor(s.divisor - 1) < req,
                    "req {req} got {s:?}"
                );
            }
            // Asking again for the period we answered keeps the same clock.
            assert_eq!(setting_for_period(s.period_ns, 30_000_000), s, "req {req}");
        }
    }

    #[test]
    fn cap_limits_speed() {
        assert_eq!(setting_for_period(33, 15_000_000).divisor, 1);
    }
}
