//! The SVG plot of a run: per combination, the policy's budget, `n*` and the rolling accuracy
//! over trajectories. Plain text, no dependency.

use super::report::RunReport;
use std::fmt::Write as _;

impl RunReport {
    /// An SVG plot per combination: the policy's budget (line), `n*` (dashed) and the rolling
    /// accuracy over the last 25 requests (grey), against trajectories.
    pub fn svg(&self) -> String {
        let (w, h, pad) = (640.0, 120.0, 30.0);
        let total_h = pad + self.combos.len() as f64 * (h + pad);
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{total_h}\" \
             font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        let _ = writeln!(
            out,
            "<text x=\"10\" y=\"18\">{} · {} · seed {}: budget (blue), n* (red dashed), accuracy over 25 (grey, 0-1)</text>",
            self.scenario, self.agent, self.seed
        );
        for (i, c) in self.combos.iter().enumerate() {
            let top = pad + i as f64 * (h + pad);
            let n = c.series.len().max(2) as f64;
            let max_b = c
                .series
                .iter()
                .map(|s| s.0.max(s.1))
                .max()
                .unwrap_or(1)
                .max(1) as f64
                + 1.0;
            let x = |t: usize| 40.0 + t as f64 / (n - 1.0) * (w - 60.0);
            let yb = |b: f64| top + h - b / max_b * h;
            let _ = writeln!(
                out,
                "<text x=\"40\" y=\"{}\">{} [{}]</text><rect x=\"40\" y=\"{top}\" width=\"{}\" height=\"{h}\" fill=\"none\" stroke=\"#ccc\"/>",
                top - 4.0,
                c.intent,
                c.modules.join(","),
                w - 60.0
            );
            let line = |points: Vec<(f64, f64)>, style: &str| {
                let path: Vec<String> = points
                    .iter()
                    .map(|(px, py)| format!("{px:.1},{py:.1}"))
                    .collect();
                format!(
                    "<polyline fill=\"none\" {style} points=\"{}\"/>\n",
                    path.join(" ")
                )
            };
            let mut window = std::collections::VecDeque::new();
            let mut hits = 0usize;
            let acc: Vec<(f64, f64)> = c
                .series
                .iter()
                .enumerate()
                .map(|(t, s)| {
                    window.push_back(s.2);
                    hits += usize::from(s.2);
                    if window.len() > 25 {
                        hits -= usize::from(window.pop_front().unwrap_or(false));
                    }
                    (x(t), top + h - hits as f64 / window.len() as f64 * h)
                })
                .collect();
            out.push_str(&line(acc, "stroke=\"#999\""));
            out.push_str(&line(
                c.series
                    .iter()
                    .enumerate()
                    .map(|(t, s)| (x(t), yb(f64::from(s.1))))
                    .collect(),
                "stroke=\"#d33\" stroke-dasharray=\"4 3\"",
            ));
            out.push_str(&line(
                c.series
                    .iter()
                    .enumerate()
                    .map(|(t, s)| (x(t), yb(f64::from(s.0))))
                    .collect(),
                "stroke=\"#24c\" stroke-width=\"1.5\"",
            ));
            let _ = writeln!(
                out,
                "<text x=\"8\" y=\"{}\">{}</text><text x=\"8\" y=\"{}\">0</text>",
                top + 10.0,
                max_b - 1.0,
                top + h
            );
        }
        out.push_str("</svg>\n");
        out
    }
}
