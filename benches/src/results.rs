//! One result row of a comparison (kq, its rival, optionally a floor) measured over interleaved
//! rounds, with the statistics and the markdown every runner prints.
//!
//! Every ratio is a **time ratio** kq/rival (below 1: kq is faster): for a rate (req/s) it is
//! rival rate / kq rate, so that one chart and one column read the same way for every row.

/// Median, min and max of `v` (`None` when empty).
pub fn summary(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let med = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    Some((med, s[0], s[n - 1]))
}

/// A number with about three significant digits, `k`/`M` for large ones.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 10_000_000.0 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 100_000.0 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 10_000.0 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `median unit (min-max)` of `v`, or `-`.
pub fn fmt_cell(v: &[f64], unit: &str) -> String {
    match summary(v) {
        Some((m, lo, hi)) => format!("{} {unit} ({}-{})", fmt_num(m), fmt_num(lo), fmt_num(hi)),
        None => "-".into(),
    }
}

/// One compared measurement: a value per round for kq, the rival and (optionally) a floor.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// The row of BENCHMARKS.md (`"1"`, `"9"`, `"5b"`).
    pub id: String,
    /// What was measured, with its parameters (`"tcp_echo c=50 [ct]"`).
    pub bench: String,
    /// The unit of the values (`"ns/task"`, `"req/s"`).
    pub unit: String,
    /// Whether a larger value is better (a rate) or a smaller one (a time).
    pub higher_is_better: bool,
    /// The rival's name (`"tokio"`, `"mio"`, `"notify"`).
    pub rival: String,
    /// kq's value per round (`None`: that run failed).
    pub kq: Vec<Option<f64>>,
    /// The rival's value per round.
    pub rival_values: Vec<Option<f64>>,
    /// The floor's value per round (empty: no floor).
    pub floor: Vec<Option<f64>>,
    /// Anything the reader needs to know (lock statistics, skipped parts).
    pub note: String,
}

fn set(v: &mut Vec<Option<f64>>, round: usize, x: Option<f64>) {
    if v.len() <= round {
        v.resize(round + 1, None);
    }
    v[round] = x;
}

impl Row {
    /// An empty row.
    pub fn new(id: &str, bench: impl Into<String>, unit: &str, higher_is_better: bool) -> Row {
        Row {
            id: id.into(),
            bench: bench.into(),
            unit: unit.into(),
            higher_is_better,
            rival: "tokio".into(),
            ..Row::default()
        }
    }

    /// The same row with another rival name.
    pub fn with_rival(mut self, rival: &str) -> Row {
        self.rival = rival.into();
        self
    }

    /// A row that could not be measured: `note` says why.
    pub fn unavailable(id: &str, bench: &str, rival: &str, note: &str) -> Row {
        Row { note: note.into(), ..Row::new(id, bench, "", false).with_rival(rival) }
    }

    /// Records kq's value of `round`.
    pub fn set_kq(&mut self, round: usize, x: Option<f64>) {
        set(&mut self.kq, round, x);
    }

    /// Records the rival's value of `round`.
    pub fn set_rival(&mut self, round: usize, x: Option<f64>) {
        set(&mut self.rival_values, round, x);
    }

    /// Records the floor's value of `round`.
    pub fn set_floor(&mut self, round: usize, x: Option<f64>) {
        set(&mut self.floor, round, x);
    }

    fn values(v: &[Option<f64>]) -> Vec<f64> {
        v.iter().flatten().copied().collect()
    }

    /// kq's values of the rounds that ran.
    pub fn kq_values(&self) -> Vec<f64> {
        Row::values(&self.kq)
    }

    /// The rival's values of the rounds that ran.
    pub fn rival_values(&self) -> Vec<f64> {
        Row::values(&self.rival_values)
    }

    fn time_ratios(&self, other: &[Option<f64>]) -> Vec<f64> {
        self.kq
            .iter()
            .zip(other)
            .filter_map(|(k, o)| match (k, o) {
                (Some(k), Some(o)) if *k > 0.0 && *o > 0.0 => {
                    Some(if self.higher_is_better { o / k } else { k / o })
                }
                _ => None,
            })
            .collect()
    }

    /// Per-round time ratios kq/rival (rounds where both ran).
    pub fn ratios(&self) -> Vec<f64> {
        self.time_ratios(&self.rival_values)
    }

    /// Median and min-max of the per-round time ratios kq/rival.
    pub fn ratio(&self) -> Option<(f64, f64, f64)> {
        summary(&self.ratios())
    }

    /// Median and min-max of the per-round time ratios kq/floor.
    pub fn floor_ratio(&self) -> Option<(f64, f64, f64)> {
        summary(&self.time_ratios(&self.floor))
    }

    /// The table header matching [`Row::markdown`].
    pub fn header() -> &'static str {
        "| # | bench | kq | rival | kq/rival time (median, min-max) | floor (mio), kq/floor time | note |\n\
         |---|---|---|---|---|---|---|"
    }

    /// The row as a markdown table line.
    pub fn markdown(&self) -> String {
        let ratio = match self.ratio() {
            Some((m, lo, hi)) => format!("**{m:.2}** ({lo:.2}-{hi:.2})"),
            None => "-".into(),
        };
        let floor = match self.floor_ratio() {
            Some((m, lo, hi)) => format!(
                "{}; {m:.2} ({lo:.2}-{hi:.2})",
                fmt_cell(&Row::values(&self.floor), &self.unit)
            ),
            None => "-".into(),
        };
        let rival = match fmt_cell(&self.rival_values(), &self.unit).as_str() {
            "-" if self.rival == "-" => "-".to_string(),
            "-" => format!("{}: -", self.rival),
            c => format!("{}: {c}", self.rival),
        };
        format!(
            "| {} | {} | {} | {rival} | {ratio} | {floor} | {} |",
            self.id,
            self.bench,
            fmt_cell(&self.kq_values(), &self.unit),
            self.note.replace('|', "/")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_ratios_are_time_ratios() {
        let mut r = Row::new("9", "echo", "req/s", true);
        r.set_kq(0, Some(200.0));
        r.set_rival(0, Some(100.0));
        r.set_kq(1, None);
        r.set_rival(1, Some(100.0));
        assert_eq!(r.ratios(), vec![0.5]);
        let mut t = Row::new("1", "spawn", "ns", false);
        t.set_kq(0, Some(200.0));
        t.set_rival(0, Some(100.0));
        assert_eq!(t.ratio(), Some((2.0, 2.0, 2.0)));
        assert!(t.markdown().contains("**2.00**"));
    }

    #[test]
    fn summary_of_even_and_empty() {
        assert_eq!(summary(&[3.0, 1.0, 2.0, 4.0]), Some((2.5, 1.0, 4.0)));
        assert_eq!(summary(&[]), None);
    }
}
