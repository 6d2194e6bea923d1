//! Saturating size and cost arithmetic of cel-go's `checker/cost.go` (`SizeEstimate`,
//! `CostEstimate`, `multiplyByCostFactor`): every sum and product stops at `u64::MAX`,
//! the estimate of "unknown".

/// `common.StringTraversalCostFactor`.
pub(super) const STRING_TRAVERSAL: f64 = 0.1;
/// `common.RegexStringLengthCostFactor`.
pub(super) const REGEX_LENGTH: f64 = 0.25;

/// A `SizeEstimate`: the least and the most elements (runes, bytes, items, entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Size {
    pub(super) min: u64,
    pub(super) max: u64,
}

impl Size {
    /// `UnknownSizeEstimate`.
    pub(super) const UNKNOWN: Self = Self {
        min: 0,
        max: u64::MAX,
    };

    pub(super) fn fixed(n: u64) -> Self {
        Self { min: n, max: n }
    }

    pub(super) fn up_to(max: u64) -> Self {
        Self { min: 0, max }
    }

    pub(super) fn add(self, other: Self) -> Self {
        Self {
            min: self.min.saturating_add(other.min),
            max: self.max.saturating_add(other.max),
        }
    }

    pub(super) fn multiply(self, other: Self) -> Self {
        Self {
            min: self.min.saturating_mul(other.min),
            max: self.max.saturating_mul(other.max),
        }
    }

    pub(super) fn union(self, other: Self) -> Self {
        Self {
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    /// The most this size costs at `factor` per element (`MultiplyByCostFactor`).
    pub(super) fn cost(self, factor: f64) -> u64 {
        by_factor(self.max, factor)
    }
}

/// `multiplyByCostFactor`: `ceil(x * factor)`, saturating at `u64::MAX`.
// The float round trip is upstream's: sizes beyond 2^53 lose precision there too.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub(super) fn by_factor(x: u64, factor: f64) -> u64 {
    let x = x as f64;
    if x > 0.0 && factor > 0.0 && x > u64::MAX as f64 / factor {
        return u64::MAX;
    }
    let product = (x * factor).ceil();
    if product >= 18_446_744_073_709_551_616.0 {
        u64::MAX
    } else {
        product as u64
    }
}
