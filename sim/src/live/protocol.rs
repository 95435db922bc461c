//! The line protocol of `locksim live --client` (version 1), as data: what
//! a client program may say ([`Line`], [`parse_line`]), what the resource
//! answers ([`Reply`]), and the order a cycle must follow ([`Order`]).
//! The specification is `PROTOCOL.md` next to this file, included here.
//!
#![doc = include_str!("PROTOCOL.md")]

use locksim_models::ReleaseOutcome;
use std::fmt;

/// The protocol version this locksim speaks.
pub const VERSION: u32 = 1;

/// One line from a client program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// `HELLO <version> <client>`
    Hello { version: u32, client: usize },
    /// `ACQUIRING`
    Acquiring,
    /// `FAILED reason...`
    Failed { reason: String },
    /// `ACQUIRED [TOKEN] [valid_ms=N]`
    Acquired {
        token: Option<i64>,
        valid_ms: Option<u64>,
    },
    /// `BEGIN`
    Begin,
    /// `WRITE`
    Write,
    /// `END`
    End,
    /// `RELEASING`
    Releasing,
    /// `RELEASED [released|not-held|unknown]`
    Released { outcome: ReleaseOutcome },
    /// `EXTENDED valid_ms=N`
    Extended { valid_ms: u64 },
    /// `GRANTED j`
    Granted { node: usize },
    /// `NOTE text...`
    Note { text: String },
    /// `DONE`
    Done,
}

impl Line {
    /// The line's first word.
    pub fn verb(&self) -> &'static str {
        match self {
            Line::Hello { .. } => "HELLO",
            Line::Acquiring => "ACQUIRING",
            Line::Failed { .. } => "FAILED",
            Line::Acquired { .. } => "ACQUIRED",
            Line::Begin => "BEGIN",
            Line::Write => "WRITE",
            Line::End => "END",
            Line::Releasing => "RELEASING",
            Line::Released { .. } => "RELEASED",
            Line::Extended { .. } => "EXTENDED",
            Line::Granted { .. } => "GRANTED",
            Line::Note { .. } => "NOTE",
            Line::Done => "DONE",
        }
    }
}

/// The resource's answer to one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// To `HELLO`: the run has started.
    Go,
    /// Done; go on.
    Ok,
    /// To `BEGIN` / `WRITE`: rejected, the fencing token is stale.
    Fenced,
    /// The line was refused; the run ends.
    Err(String),
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Go => f.write_str("GO"),
            Reply::Ok => f.write_str("OK"),
            Reply::Fenced => f.write_str("FENCED"),
            // One line, whatever the message holds.
            Reply::Err(m) => write!(f, "ERR {}", m.replace(['\r', '\n'], " ")),
        }
    }
}

/// Every verb of version 1, for error messages.
pub const VERBS: &str = "HELLO, ACQUIRING, FAILED, ACQUIRED, BEGIN, WRITE, END, RELEASING, \
                         RELEASED, EXTENDED, GRANTED, NOTE, DONE";

/// Parses one line (without its `\n`; a trailing `\r` is ignored).
pub fn parse_line(raw: &str) -> Result<Line, String> {
    let line = raw.strip_suffix('\r').unwrap_or(raw);
    let (verb, rest) = match line.split_once(' ') {
        Some((v, r)) => (v, r),
        None => (line, ""),
    };
    let words: Vec<&str> = rest.split(' ').filter(|w| !w.is_empty()).collect();
    let none = |line: Line| {
        if words.is_empty() {
            Ok(line)
        } else {
            Err(format!("`{verb}` takes no arguments, got {rest:?}"))
        }
    };
    let text = |what: &str| {
        let t = rest.trim();
        if t.is_empty() {
            Err(format!("`{verb}` needs {what}"))
        } else {
            Ok(t.to_string())
        }
    };
    match verb {
        "HELLO" => match words.as_slice() {
            [v, c] => Ok(Line::Hello {
                version: v
                    .parse()
                    .map_err(|_| format!("HELLO: the version {v:?} is not a number"))?,
                client: c
                    .parse()
                    .map_err(|_| format!("HELLO: the client id {c:?} is not a number"))?,
            }),
            _ => Err(format!(
                "`HELLO` takes the protocol version and the client id (`HELLO {VERSION} 0`), got {rest:?}"
            )),
        },
        "ACQUIRING" => none(Line::Acquiring),
        "FAILED" => Ok(Line::Failed {
            reason: text("a reason")?,
        }),
        "ACQUIRED" => acquired(&words),
        "BEGIN" => none(Line::Begin),
        "WRITE" => none(Line::Write),
        "END" => none(Line::End),
        "RELEASING" => none(Line::Releasing),
        "RELEASED" => match words.as_slice() {
            [] | ["released"] => Ok(Line::Released {
                outcome: ReleaseOutcome::Released,
            }),
            ["not-held"] => Ok(Line::Released {
                outcome: ReleaseOutcome::NotHeld,
            }),
            ["unknown"] => Ok(Line::Released {
                outcome: ReleaseOutcome::Unknown,
            }),
            _ => Err(format!(
                "`RELEASED` takes one of released, not-held, unknown (or nothing), got {rest:?}"
            )),
        },
        "EXTENDED" => match words.as_slice() {
            [w] => Ok(Line::Extended {
                valid_ms: valid_ms(w)?.ok_or_else(|| format!("EXTENDED: {w:?} is not valid_ms=N"))?,
            }),
            _ => Err(format!("`EXTENDED` takes valid_ms=N, got {rest:?}")),
        },
        "GRANTED" => match words.as_slice() {
            [n] => Ok(Line::Granted {
                node: n
                    .parse()
                    .map_err(|_| format!("GRANTED: the node {n:?} is not a number"))?,
            }),
            _ => Err(format!("`GRANTED` takes the node's index, got {rest:?}")),
        },
        "NOTE" => Ok(Line::Note {
            text: text("some text")?,
        }),
        "DONE" => none(Line::Done),
        "" => Err("an empty line".into()),
        other => Err(format!("unknown verb {other:?} (protocol {VERSION}: {VERBS})")),
    }
}

/// `valid_ms=N` -> `Some(N)`; another word -> `None`; a bad number -> error.
fn valid_ms(word: &str) -> Result<Option<u64>, String> {
    match word.strip_prefix("valid_ms=") {
        Some(n) => n
            .parse()
            .map(Some)
            .map_err(|_| format!("valid_ms={n:?} is not a whole number of ms")),
        None => Ok(None),
    }
}

fn acquired(words: &[&str]) -> Result<Line, String> {
    let mut token = None;
    let mut valid = None;
    for (i, w) in words.iter().enumerate() {
        if let Some(v) = valid_ms(w)? {
            valid = Some(v);
        } else if i == 0 && *w == "-" {
        } else if i == 0 {
            token = Some(w.parse().map_err(|_| {
                format!("ACQUIRED: the token {w:?} is not an integer (write `-` for none)")
            })?);
        } else {
            return Err(format!(
                "`ACQUIRED` takes [TOKEN] [valid_ms=N], got {:?}",
                words.join(" ")
            ));
        }
    }
    Ok(Line::Acquired {
        token,
        valid_ms: valid,
    })
}

/// Where one client program is in its cycle: what the next line may be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Connected, no `HELLO` yet.
    #[default]
    New,
    /// Between cycles (or acquiring): `ACQUIRING`, `FAILED`, `ACQUIRED`, `DONE`.
    Idle,
    /// Holding a lease, before `BEGIN`.
    Held,
    /// Between `BEGIN` and `END`.
    Working,
    /// After `END`, before `RELEASING`.
    Worked,
    /// After `RELEASING`, before `RELEASED`.
    Releasing,
    /// After `DONE`.
    Done,
}

impl Order {
    /// The state after `line`, or why `line` cannot come now. `NOTE`,
    /// `GRANTED` and `EXTENDED` may come at any time after `HELLO`.
    pub fn next(self, line: &Line) -> Result<Order, String> {
        use Order::*;
        let next = match (self, line) {
            (New, Line::Hello { .. }) => Idle,
            (New, l) => {
                return Err(format!(
                    "`{}` before `HELLO {VERSION} <client>`: the first line says hello",
                    l.verb()
                ))
            }
            (_, Line::Hello { .. }) => return Err("a second `HELLO`".into()),
            (Done, l) => return Err(format!("`{}` after `DONE`", l.verb())),
            (s, Line::Note { .. } | Line::Granted { .. } | Line::Extended { .. }) => s,
            (Idle, Line::Acquiring | Line::Failed { .. }) => Idle,
            (Idle, Line::Acquired { .. }) => Held,
            (Idle, Line::Done) => Done,
            (Held | Worked, Line::Begin) => Working,
            (Working, Line::Write) => Working,
            (Working, Line::End) => Worked,
            (Held | Worked, Line::Releasing) => Releasing,
            (Releasing, Line::Released { .. }) => Idle,
            (s, l) => return Err(format!("`{}` {}", l.verb(), s.expects())),
        };
        Ok(next)
    }

    fn expects(self) -> &'static str {
        match self {
            Order::New => "before HELLO",
            Order::Idle => {
                "without a lease: expected ACQUIRING, FAILED, ACQUIRED or DONE (a cycle starts with ACQUIRED)"
            }
            Order::Held => "while holding the lock: expected BEGIN or RELEASING",
            Order::Working => "in the critical section: expected WRITE or END",
            Order::Worked => "after END: expected RELEASING (or BEGIN of another section)",
            Order::Releasing => "after RELEASING: expected RELEASED",
            Order::Done => "after DONE",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_the_spec_parses() {
        let cases = [
            (
                "HELLO 1 2",
                Line::Hello {
                    version: 1,
                    client: 2,
                },
            ),
            ("ACQUIRING", Line::Acquiring),
            (
                "FAILED lock busy after 3 tries",
                Line::Failed {
                    reason: "lock busy after 3 tries".into(),
                },
            ),
            (
                "ACQUIRED",
                Line::Acquired {
                    token: None,
                    valid_ms: None,
                },
            ),
            (
                "ACQUIRED 42",
                Line::Acquired {
                    token: Some(42),
                    valid_ms: None,
                },
            ),
            (
                "ACQUIRED -",
                Line::Acquired {
                    token: None,
                    valid_ms: None,
                },
            ),
            (
                "ACQUIRED - valid_ms=9800",
                Line::Acquired {
                    token: None,
                    valid_ms: Some(9800),
                },
            ),
            (
                "ACQUIRED valid_ms=5",
                Line::Acquired {
                    token: None,
                    valid_ms: Some(5),
                },
            ),
            (
                "ACQUIRED 7 valid_ms=5\r",
                Line::Acquired {
                    token: Some(7),
                    valid_ms: Some(5),
                },
            ),
            ("BEGIN", Line::Begin),
            ("WRITE", Line::Write),
            ("END", Line::End),
            ("RELEASING", Line::Releasing),
            (
                "RELEASED",
                Line::Released {
                    outcome: ReleaseOutcome::Released,
                },
            ),
            (
                "RELEASED not-held",
                Line::Released {
                    outcome: ReleaseOutcome::NotHeld,
                },
            ),
            (
                "RELEASED unknown",
                Line::Released {
                    outcome: ReleaseOutcome::Unknown,
                },
            ),
            ("EXTENDED valid_ms=3000", Line::Extended { valid_ms: 3000 }),
            ("GRANTED 3", Line::Granted { node: 3 }),
            (
                "NOTE  hello  world ",
                Line::Note {
                    text: "hello  world".into(),
                },
            ),
            ("DONE", Line::Done),
        ];
        for (text, want) in cases {
            assert_eq!(parse_line(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn garbage_gets_a_message_that_says_what_was_expected() {
        for (text, says) in [
            ("", "empty line"),
            ("hello 1 0", "unknown verb \"hello\""),
            ("{\"up\":\"ready\"}", "unknown verb"),
            ("HELLO 1", "HELLO 1 0"),
            ("HELLO x 0", "version"),
            ("ACQUIRED abc", "not an integer"),
            ("ACQUIRED 1 2", "[TOKEN] [valid_ms=N]"),
            ("ACQUIRED valid_ms=-3", "whole number"),
            ("BEGIN 5", "takes no arguments"),
            ("RELEASED maybe", "released, not-held, unknown"),
            ("FAILED", "needs a reason"),
            ("EXTENDED 5", "valid_ms=N"),
        ] {
            let e = parse_line(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_cycle_goes_in_order_and_anything_else_is_refused() {
        let script = [
            "HELLO 1 0",
            "ACQUIRING",
            "FAILED busy",
            "ACQUIRED 3",
            "GRANTED 0",
            "BEGIN",
            "WRITE",
            "NOTE x",
            "WRITE",
            "END",
            "RELEASING",
            "RELEASED",
            "ACQUIRED",
            "RELEASING",
            "RELEASED not-held",
            "DONE",
        ];
        let mut o = Order::New;
        for l in script {
            o = o
                .next(&parse_line(l).unwrap())
                .unwrap_or_else(|e| panic!("{l}: {e}"));
        }
        assert_eq!(o, Order::Done);
        let refused = |state: Order, line: &str, says: &str| {
            let e = state.next(&parse_line(line).unwrap()).unwrap_err();
            assert!(e.contains(says), "{line} in {state:?}: {e}");
        };
        refused(Order::New, "ACQUIRED", "before `HELLO 1 <client>`");
        refused(Order::Idle, "BEGIN", "without a lease");
        refused(Order::Held, "ACQUIRED", "while holding the lock");
        refused(Order::Working, "RELEASING", "expected WRITE or END");
        refused(Order::Releasing, "BEGIN", "expected RELEASED");
        refused(Order::Idle, "HELLO 1 0", "second `HELLO`");
        refused(Order::Done, "ACQUIRED", "after `DONE`");
    }

    #[test]
    fn replies_are_one_line() {
        assert_eq!(Reply::Go.to_string(), "GO");
        assert_eq!(Reply::Fenced.to_string(), "FENCED");
        assert_eq!(Reply::Err("a\nb".into()).to_string(), "ERR a b");
    }
}
