//! The one text-table renderer of the command line (`xvc-agent list`, `status`, `browse`):
//! columns padded to their widest cell, two spaces apart, no trailing blanks, and under any
//! row the notes that explain it (`    └ ignored: …`). Exists so the three tables look alike
//! and none of them carries its own copy of the alignment code.

/// One row: its cells, and the notes printed under it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub cells: Vec<String>,
    pub notes: Vec<String>,
}

impl Row {
    pub fn new(cells: Vec<String>) -> Self {
        Row {
            cells,
            notes: Vec::new(),
        }
    }

    /// Adds a note under the row.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

/// The table: a header line, then each row and its notes.
pub fn render(header: &[&str], rows: &[Row]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(&row.cells) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.cells.iter().map(String::as_str)));
        for note in &row.notes {
            out.push_str(&format!("    └ {note}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell_and_notes_follow_their_row() {
        let mut a = Row::new(vec!["hs2".into(), "2542".into(), "".into()]);
        a.note("a note");
        let b = Row::new(vec!["nexys-video".into(), "-".into(), "µ".into()]);
        assert_eq!(
            render(&["NAME", "PORT", "X"], &[a, b]),
            "NAME         PORT  X\n\
             hs2          2542\n    \
             └ a note\n\
             nexys-video  -     µ\n"
        );
    }
}
