//! The hardware address that identifies a host everywhere in Marrow.

use std::fmt;
use std::str::FromStr;

/// An Ethernet MAC address: the host id of the registry, the DHCP `chaddr`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MAC address {input:?} is not six hex octets separated by ':' or '-'")]
pub struct MacParseError {
    pub input: String,
}

impl MacAddr {
    /// True for the address of one network card: not the all-zero
    /// address, and the I/G bit (IEEE 802, the low bit of the first octet)
    /// clear. Broadcast `ff:ff:…` and multicast addresses name groups, so
    /// no machine boots as one.
    pub fn is_unicast(&self) -> bool {
        self.0 != [0; 6] && self.0[0] & 1 == 0
    }

    /// The form iPXE's `${mac:hexhyp}` produces, safe in a URL path or query.
    pub fn hyphenated(&self) -> String {
        let b = self.0;
        format!(
            "{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError {
            input: s.to_string(),
        };
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(err());
        }
        let mut out = [0u8; 6];
        for (slot, part) in out.iter_mut().zip(parts) {
            if part.len() != 2 {
                return Err(err());
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_colon_and_hyphen_forms_and_prints_colons() {
        let a: MacAddr = "52:54:00:AB:cd:01".parse().unwrap();
        let b: MacAddr = "52-54-00-ab-cd-01".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "52:54:00:ab:cd:01");
        assert_eq!(a.hyphenated(), "52-54-00-ab-cd-01");
    }

    #[test]
    fn broadcast_multicast_and_zero_addresses_are_not_unicast() {
        for (text, unicast) in [
            ("52:54:00:12:34:56", true),
            ("ff:ff:ff:ff:ff:ff", false),
            ("01:00:5e:00:00:01", false),
            ("00:00:00:00:00:00", false),
            ("02:00:00:00:00:01", true),
        ] {
            assert_eq!(
                text.parse::<MacAddr>().unwrap().is_unicast(),
                unicast,
                "{text}"
            );
        }
    }

    #[test]
    fn serializes_in_the_colon_form() {
        let a: MacAddr = "52-54-00-ab-cd-01".parse().unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"52:54:00:ab:cd:01\"");
        assert_eq!(
            serde_json::from_str::<MacAddr>("\"52:54:00:ab:cd:01\"").unwrap(),
            a
        );
    }

    #[test]
    fn refuses_short_or_non_hex_addresses() {
        assert!("52:54:00:ab:cd".parse::<MacAddr>().is_err());
        assert!("52:54:00:ab:cd:zz".parse::<MacAddr>().is_err());
        assert!("525400abcd01".parse::<MacAddr>().is_err());
    }
}
