//! Money: integer fixed-point amounts, currencies and signed balances.
//!
//! No floats anywhere: an [`Amount`] is a count of base units, and one whole
//! unit of either currency is [`UNIT`] base units (6 decimals). Arithmetic is
//! checked; an overflow is an error value, never a wrap.

use std::fmt;
use std::str::FromStr;

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decimal places of both currencies.
pub const DECIMALS: u32 = 6;
/// Base units in one whole IPPC or iUSD.
pub const UNIT: u64 = 1_000_000;

/// A non-negative quantity of one currency, in base units.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Amount(u64);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// `base` base units.
    pub const fn from_base(base: u64) -> Self {
        Amount(base)
    }
    /// `whole` whole units; `None` on overflow.
    pub const fn whole(whole: u64) -> Option<Self> {
        match whole.checked_mul(UNIT) {
            Some(v) => Some(Amount(v)),
            None => None,
        }
    }
    /// The count of base units.
    pub const fn base(self) -> u64 {
        self.0
    }
    /// True for zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }
    /// `self - other`, `None` if it would go below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
    /// `ceil(self × num / den)`, `None` on overflow or `den == 0`.
    ///
    /// Rounding up is deliberate for fees and charges: splitting one payment
    /// into many tiny ones never makes it cheaper.
    pub fn mul_ratio_ceil(self, num: u64, den: u64) -> Option<Amount> {
        if den == 0 {
            return None;
        }
        let product = u128::from(self.0) * u128::from(num);
        let q = product.div_ceil(u128::from(den));
        u64::try_from(q).ok().map(Amount)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0 / UNIT, self.0 % UNIT)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({self})")
    }
}

/// Why text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an amount: expected digits with at most 6 decimals, e.g. 12 or 0.000001")]
pub struct ParseAmountError(String);

impl FromStr for Amount {
    type Err = ParseAmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseAmountError(s.chars().take(40).collect());
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        if whole.is_empty()
            || frac.len() > DECIMALS as usize
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (s.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let mut frac_units: u64 = 0;
        if !frac.is_empty() {
            frac_units = frac.parse::<u64>().map_err(|_| bad())? * 10u64.pow(DECIMALS - frac.len() as u32);
        }
        whole
            .checked_mul(UNIT)
            .and_then(|w| w.checked_add(frac_units))
            .map(Amount)
            .ok_or_else(bad)
    }
}

// Amounts travel in JSON as decimal strings: JSON numbers lose precision past 2^53.
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The ledger's currencies. ETH exists only on the L2, never here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize)]
pub enum Currency {
    /// Internal cognitive fuel; what metabolism charges.
    #[serde(rename = "IPPC")]
    Ippc,
    /// Stable accounting unit.
    #[serde(rename = "iUSD")]
    Iusd,
}

impl Currency {
    /// Both currencies, in encoding order.
    pub const ALL: [Currency; 2] = [Currency::Ippc, Currency::Iusd];
    /// One-byte tag used in storage keys.
    pub fn tag(self) -> u8 {
        match self {
            Currency::Ippc => 0,
            Currency::Iusd => 1,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Currency::Ippc => "IPPC",
            Currency::Iusd => "iUSD",
        })
    }
}

impl FromStr for Currency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ippc" => Ok(Currency::Ippc),
            "iusd" => Ok(Currency::Iusd),
            _ => Err(format!("unknown currency {s:?} (IPPC or iUSD)")),
        }
    }
}

/// A signed account balance in base units.
///
/// Signed because the mint is the source of all value: its balance is minus
/// everything ever minted, so the sum of all balances of a currency is
/// exactly zero. Every other account is kept at or above zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Balance(pub i128);

impl Balance {
    /// Adds a credit.
    pub fn credit(self, amount: Amount) -> Balance {
        Balance(self.0 + i128::from(amount.base()))
    }
    /// Subtracts a debit.
    pub fn debit(self, amount: Amount) -> Balance {
        Balance(self.0 - i128::from(amount.base()))
    }
    /// Big-endian two's complement, for storage.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
    /// Inverse of [`Balance::to_bytes`]; `None` if not 16 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Balance> {
        Some(Balance(i128::from_be_bytes(bytes.try_into().ok()?)))
    }
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:06}", abs / u128::from(UNIT), abs % u128::from(UNIT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_and_print_exactly() {
        for (text, base) in [
            ("0", 0),
            ("1", UNIT),
            ("0.000001", 1),
            ("12.5", 12_500_000),
            ("50000", 50_000 * UNIT),
        ] {
            let a: Amount = text.parse().unwrap();
            assert_eq!(a.base(), base, "{text}");
            assert_eq!(a.to_string().parse::<Amount>().unwrap(), a);
        }
        for bad in ["", ".5", "5.", "-1", "1.0000001", "1e6", "abc", "18446744073709.551616"] {
            assert!(bad.parse::<Amount>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn checked_arithmetic_never_wraps() {
        let max = Amount::from_base(u64::MAX);
        assert_eq!(max.checked_add(Amount::from_base(1)), None);
        assert_eq!(Amount::ZERO.checked_sub(Amount::from_base(1)), None);
        assert_eq!(
            Amount::from_base(1000).mul_ratio_ceil(10, 10_000),
            Some(Amount::from_base(1))
        );
        assert_eq!(
            Amount::from_base(1001).mul_ratio_ceil(10, 10_000),
            Some(Amount::from_base(2))
        );
        assert_eq!(max.mul_ratio_ceil(2, 1), None);
        assert_eq!(max.mul_ratio_ceil(1, 0), None);
    }

    #[test]
    fn balances_print_with_sign() {
        assert_eq!(Balance(-1_500_000).to_string(), "-1.500000");
        assert_eq!(Balance::from_bytes(&Balance(-7).to_bytes()), Some(Balance(-7)));
    }
}
