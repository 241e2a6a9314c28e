//! The FTDI path (encoder → FT232H emulator → decoder) gives the same TDO and leaves the chain
//! in the same state as clocking the chain model directly, for arbitrary shift sequences.

use proptest::prelude::*;
use xvc_agent::ftdi::profiles::HS2;
use xvc_agent::ftdi::{FtdiCable, TdoEdge};
use xvc_agent::jtag::Cable;
use xvc_agent::sim::ft232h::Ft232h;
use xvc_agent::sim::parts::{ARM_DAP, XC7A35T, XC7Z020};
use xvc_agent::sim::{DirectCable, JtagChain, Part};

/// How the TMS vector of one shift looks.
#[derive(Debug, Clone, Copy)]
enum TmsShape {
    /// All zeros: a data run.
    Zeros,
    /// Mostly zeros with rare ones: scans with state changes in between.
    Sparse,
    /// Random bits: the TAP wanders everywhere.
    Dense,
}

#[derive(Debug, Clone)]
struct Shift {
    nbits: u32,
    tms: Vec<u8>,
    tdi: Vec<u8>,
}

fn shift_strategy() -> impl Strategy<Value = Shift> {
    let nbits = prop_oneof![1u32..64, 64u32..4096, 4096u32..=70_000];
    let shape = prop_oneof![
        Just(TmsShape::Zeros),
        Just(TmsShape::Sparse),
        Just(TmsShape::Dense)
    ];
    (nbits, shape, any::<u64>()).prop_map(|(nbits, shape, seed)| {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n = nbits.div_ceil(8) as usize;
        let mut tdi = vec![0u8; n];
        rng.fill(&mut tdi[..]);
        let tms = match shape {
            TmsShape::Zeros => vec![0u8; n],
            TmsShape::Dense => {
                let mut v = vec![0u8; n];
                rng.fill(&mut v[..]);
                v
            }
            TmsShape::Sparse => {
                let mut v = vec![0u8; n];
                for i in 0..nbits as usize {
                    if rng.gen_ratio(1, 200) {
                        v[i / 8] |= 1 << (i % 8);
                    }
                }
                v
            }
        };
        Shift { nbits, tms, tdi }
    })
}

fn chain_strategy() -> impl Strategy<Value = Vec<Part>> {
    prop_oneof![
        Just(vec![XC7A35T]),
        Just(vec![ARM_DAP, XC7Z020]),
        Just(vec![]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ftdi_path_equals_direct_clocking(
        parts in chain_strategy(),
        falling in any::<bool>(),
        shifts in prop::collection::vec(shift_strategy(), 1..5),
    ) {
        let chip = Ft232h::hs2(JtagChain::new(&parts));
        let edge = if falling { TdoEdge::Falling } else { TdoEdge::Rising };
        let mut ftdi = FtdiCable::open(chip.clone(), &HS2, edge).unwrap();
        let mut direct = DirectCable::new(JtagChain::new(&parts));
        for s in &shifts {
            let n = s.tdi.len();
            let mut want = vec![0u8; n];
            direct.shift(s.nbits, &s.tms, &s.tdi, &mut want).unwrap();
            let mut got = vec![0xA5u8; n];
            ftdi.shift(s.nbits, &s.tms, &s.tdi, &mut got).unwrap();
            prop_assert_eq!(&got, &want, "{} bits", s.nbits);
            prop_assert_eq!(chip.with_chain(|c| c.state()), direct.chain().state());
        }
        let total: u64 = shifts.iter().map(|s| u64::from(s.nbits)).sum();
        prop_assert_eq!(chip.with_chain(|c| c.tck_cycles()), total);
        prop_assert_eq!(chip.with_chain(|c| c.cfg_in_sha256()), direct.chain().cfg_in_sha256());
        let counters = chip.counters();
        if falling {
            prop_assert!(counters.falling_edge_reads > 0);
        } else {
            prop_assert_eq!(counters.falling_edge_reads, 0);
        }
        // One host turnaround per shift (plus the two of the initialisation).
        prop_assert_eq!(counters.turnarounds, shifts.len() as u64 + 2);
    }
}
