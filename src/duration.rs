//! Durations as people write them on the command line and in the configuration file.

use std::time::Duration;

/// Parses `"30s"`, `"1m 30s"`, `"500ms"` or `"45"` (seconds).
/// A duration that must be longer than zero: a poll interval, a timeout, a window.
/// Zero would poll AWS in a busy loop or give up before starting.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err(format!(
            "`{text}` is zero; give a duration longer than zero, e.g. 10s or 2m"
        )),
        d => Ok(d),
    }
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>()
        && secs >= 0.0
        && secs.is_finite()
    {
        return Ok(Duration::from_secs_f64(secs));
    }
    humantime::parse_duration(t).map_err(|e| {
        format!("`{text}` is not a duration ({e}); write it like \"30s\", \"5m\" or \"1h 30m\"")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_refused_where_it_makes_no_sense() {
        assert!(parse_positive_duration("0s").unwrap_err().contains("zero"));
        assert!(parse_positive_duration("0").is_err());
        assert_eq!(
            parse_positive_duration("250ms"),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("abc").is_err());
    }
}
