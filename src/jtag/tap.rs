//! The IEEE 1149.1 TAP controller state machine, as a pure transition table.
//!
//! Used by the TAP chain model in [`crate::sim`], by the MPSSE encoder to track where the
//! target's TAP stands, and by tests that compute expected TDO directly.

/// The 16 states of a JTAG TAP controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TapState {
    TestLogicReset,
    RunTestIdle,
    SelectDrScan,
    CaptureDr,
    ShiftDr,
    Exit1Dr,
    PauseDr,
    Exit2Dr,
    UpdateDr,
    SelectIrScan,
    CaptureIr,
    ShiftIr,
    Exit1Ir,
    PauseIr,
    Exit2Ir,
    UpdateIr,
}

impl TapState {
    /// The state entered on the next rising TCK edge with the given TMS level.
    pub fn next(self, tms: bool) -> TapState {
        use TapState::*;
        match (self, tms) {
            (TestLogicReset, true) => TestLogicReset,
            (TestLogicReset, false) => RunTestIdle,
            (RunTestIdle, true) => SelectDrScan,
            (RunTestIdle, false) => RunTestIdle,
            (SelectDrScan, true) => SelectIrScan,
            (SelectDrScan, false) => CaptureDr,
            (CaptureDr, true) => Exit1Dr,
            (CaptureDr, false) => ShiftDr,
            (ShiftDr, true) => Exit1Dr,
            (ShiftDr, false) => ShiftDr,
            (Exit1Dr, true) => UpdateDr,
            (Exit1Dr, false) => PauseDr,
            (PauseDr, true) => Exit2Dr,
            (PauseDr, false) => PauseDr,
            (Exit2Dr, true) => UpdateDr,
            (Exit2Dr, false) => ShiftDr,
            (UpdateDr, true) => SelectDrScan,
            (UpdateDr, false) => RunTestIdle,
            (SelectIrScan, true) => TestLogicReset,
            (SelectIrScan, false) => CaptureIr,
            (CaptureIr, true) => Exit1Ir,
            (CaptureIr, false) => ShiftIr,
            (ShiftIr, true) => Exit1Ir,
            (ShiftIr, false) => ShiftIr,
            (Exit1Ir, true) => UpdateIr,
            (Exit1Ir, false) => PauseIr,
            (PauseIr, true) => Exit2Ir,
            (PauseIr, false) => PauseIr,
            (Exit2Ir, true) => UpdateIr,
            (Exit2Ir, false) => ShiftIr,
            (UpdateIr, true) => SelectDrScan,
            (UpdateIr, false) => RunTestIdle,
        }
    }

    /// True in Shift-DR and Shift-IR, the only states in which TDO is driven.
    pub(crate) fn is_shift(self) -> bool {
        matches!(self, TapState::ShiftDr | TapState::ShiftIr)
    }
}

#[cfg(test)]
mod tests {
    use super::TapState::*;

    #[test]
    fn five_tms_ones_reach_reset_from_every_state() {
        let all = [
            TestLogicReset,
            RunTestIdle,
            SelectDrScan,
            CaptureDr,
            ShiftDr,
            Exit1Dr,
            PauseDr,
            Exit2Dr,
            UpdateDr,
            SelectIrScan,
            CaptureIr,
            ShiftIr,
            Exit1Ir,
            PauseIr,
            Exit2Ir,
            UpdateIr,
        ];
        for s in all {
            let end = (0..5).fold(s, |st, _| st.next(true));
            assert_eq!(end, TestLogicReset, "from {s:?}");
        }
    }

    #[test]
    fn ir_scan_path() {
        let path = [false, true, true, false, false];
        let end = path.iter().fold(TestLogicReset, |s, &t| s.next(t));
        assert_eq!(end, ShiftIr);
        assert_eq!(ShiftIr.next(true).next(true), UpdateIr);
    }
}
