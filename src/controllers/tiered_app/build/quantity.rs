//! Just enough of the Kubernetes quantity grammar (`250m`, `512Mi`, `1.5G`, `1e3`) to
//! compare requests with limits during validation. Pure; no k8s types.

/// Parses a Kubernetes quantity into its value in base units (cores, bytes), or `None`
/// when the text is not a quantity.
pub fn parse_quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    if number.is_empty() || number == "+" || number == "-" || number.ends_with('.') {
        return None;
    }
    if number[1..].contains(['+', '-']) || number.matches('.').count() > 1 {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        "Ei" => 1024.0_f64.powi(6),
        exponent if exponent.starts_with(['e', 'E']) => {
            let power: i32 = exponent[1..].parse().ok()?;
            10.0_f64.powi(power)
        }
        _ => return None,
    };
    Some(value * multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_cpu_and_memory_forms() {
        let cases = [
            ("250m", 0.25),
            ("1", 1.0),
            ("1.5", 1.5),
            ("512Mi", 512.0 * 1024.0 * 1024.0),
            ("1Gi", 1024.0 * 1024.0 * 1024.0),
            ("1G", 1e9),
            ("1e3", 1000.0),
            ("128k", 128_000.0),
        ];
        for (text, expected) in cases {
            let parsed = parse_quantity(text).unwrap();
            assert!((parsed - expected).abs() < 1e-9, "{text}: {parsed}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_quantity() {
        for text in ["", "m", "abc", "12x", "1.2.3", "5MB", "1-2", "1."] {
            assert_eq!(parse_quantity(text), None, "{text}");
        }
    }
}
