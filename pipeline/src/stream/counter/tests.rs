use proptest::prelude::*;

use super::*;

const S: i64 = 1_000_000_000;

fn p(t_s: i64, value: u64, width: u8, up_s: Option<u64>) -> Point {
    Point {
        time_ns: t_s * S,
        value,
        width,
        uptime_ticks: up_s.map(|u| u * 100),
        discontinuity_ticks: None,
    }
}

/// 1 Gb/s in octets per second.
const GIG: Option<f64> = Some(125_000_000.0);

#[test]
fn table_of_counter_cases() {
    let m32 = u64::from(u32::MAX);
    let cases: Vec<(&str, Point, Point, Option<f64>, Delta)> = vec![
        (
            "plain increase",
            p(0, 1000, 64, Some(100)),
            p(30, 31_000, 64, Some(130)),
            GIG,
            Delta::Rate {
                delta: 30_000,
                seconds: 30.0,
                per_second: 1000.0,
                wrapped: false,
            },
        ),
        (
            "32-bit wrap with uptime increasing",
            p(0, m32 - 99, 32, Some(1000)),
            p(10, 100, 32, Some(1010)),
            GIG,
            Delta::Rate {
                delta: 200,
                seconds: 10.0,
                per_second: 20.0,
                wrapped: true,
            },
        ),
        (
            "64-bit counter near 2^64, exact",
            p(0, u64::MAX - 1_000_000, 64, Some(5)),
            p(1, u64::MAX - 1, 64, Some(6)),
            GIG,
            Delta::Rate {
                delta: 999_999,
                seconds: 1.0,
                per_second: 999_999.0,
                wrapped: false,
            },
        ),
        (
            "64-bit decrease is a reset, not a wrap",
            p(0, u64::MAX - 10, 64, Some(5)),
            p(1, 5, 64, Some(6)),
            GIG,
            Delta::Discontinuity(Reason::Reset),
        ),
        (
            "reboot: sysUpTime went back",
            p(0, 5_000_000, 32, Some(100_000)),
            p(30, 1_000, 32, Some(20)),
            GIG,
            Delta::Discontinuity(Reason::Reboot),
        ),
        (
            "reboot during a long gap: uptime grew less than the gap",
            p(0, 5_000_000, 64, Some(100)),
            p(3600, 9_000_000, 64, Some(600)),
            GIG,
            Delta::Discontinuity(Reason::Reboot),
        ),
        (
            "decrease without sysUpTime is a reset",
            p(0, m32 - 10, 32, None),
            p(10, 10, 32, None),
            GIG,
            Delta::Discontinuity(Reason::Reset),
        ),
        (
            "implausible jump above the interface speed",
            p(0, 0, 64, Some(10)),
            p(10, 10_000_000_000, 64, Some(20)),
            GIG,
            Delta::Discontinuity(Reason::Implausible),
        ),
        (
            "implausible wrap on a 10 Mb/s interface",
            p(0, m32 - 10, 32, Some(10)),
            p(10, 1_000_000_000, 32, Some(20)),
            Some(1_250_000.0),
            Delta::Discontinuity(Reason::Implausible),
        ),
        (
            "gap of several polls: one rate over the whole gap",
            p(0, 0, 64, Some(10)),
            p(150, 150_000, 64, Some(160)),
            GIG,
            Delta::Rate {
                delta: 150_000,
                seconds: 150.0,
                per_second: 1000.0,
                wrapped: false,
            },
        ),
        (
            "width changed",
            p(0, 10, 32, Some(10)),
            p(10, 20, 64, Some(20)),
            GIG,
            Delta::Discontinuity(Reason::WidthChanged),
        ),
        (
            "same time",
            p(10, 10, 64, Some(10)),
            p(10, 20, 64, Some(10)),
            GIG,
            Delta::Discontinuity(Reason::NotNewer),
        ),
    ];
    for (name, prev, cur, max, want) in cases {
        assert_eq!(counter_delta(&prev, &cur, max), want, "{name}");
    }
}

#[test]
fn discontinuity_time_change_is_a_discontinuity() {
    let mut a = p(0, 10, 64, Some(10));
    let mut b = p(10, 20, 64, Some(20));
    a.discontinuity_ticks = Some(5);
    b.discontinuity_ticks = Some(900);
    assert_eq!(
        counter_delta(&a, &b, GIG),
        Delta::Discontinuity(Reason::DiscontinuityTime)
    );
    b.discontinuity_ticks = Some(5);
    assert!(matches!(
        counter_delta(&a, &b, GIG),
        Delta::Rate { delta: 10, .. }
    ));
}

#[test]
fn sys_uptime_wrap_is_not_a_reboot() {
    let a = Point {
        time_ns: 0,
        value: 10,
        width: 32,
        uptime_ticks: Some(u64::from(u32::MAX) - 500),
        discontinuity_ticks: None,
    };
    let b = Point {
        time_ns: 30 * S,
        value: 20,
        width: 32,
        uptime_ticks: Some(2_500),
        discontinuity_ticks: None,
    };
    assert!(matches!(
        counter_delta(&a, &b, GIG),
        Delta::Rate { delta: 10, .. }
    ));
}

proptest! {
    #[test]
    fn rates_are_never_negative_nor_above_the_speed(
        v0 in any::<u64>(), v1 in any::<u64>(), w in prop::sample::select(vec![32u8, 64]),
        dt in 1i64..10_000, up0 in 0u64..1_000_000, dup in 0u64..20_000,
        speed in prop::option::of(1u64..100_000_000_000),
    ) {
        let mask = if w == 32 { u64::from(u32::MAX) } else { u64::MAX };
        let a = p(0, v0 & mask, w, Some(up0));
        let b = p(dt, v1 & mask, w, Some(up0 + dup));
        let max = speed.map(|s| s as f64 / 8.0);
        if let Delta::Rate { delta, seconds, per_second, .. } = counter_delta(&a, &b, max) {
            prop_assert!(per_second >= 0.0);
            if let Some(m) = max { prop_assert!(per_second <= m); }
            prop_assert_eq!(seconds, dt as f64);
            // The delta is exact: adding it back (mod the width) gives the new value.
            prop_assert_eq!((a.value as u128 + delta as u128) % (mask as u128 + 1), b.value as u128);
        }
    }

    #[test]
    fn exact_near_two_to_the_64(start in (u64::MAX - 1_000_000_000)..u64::MAX, inc in 0u64..1_000_000) {
        let end = start.saturating_add(inc);
        let a = p(0, start, 64, Some(1));
        let b = p(1, end, 64, Some(2));
        match counter_delta(&a, &b, None) {
            Delta::Rate { delta, .. } => prop_assert_eq!(delta, end - start),
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
