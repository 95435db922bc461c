//! `locksim libraries`: the library profiles, the versions where their
//! behaviour changes, and what changes.

use super::EXIT_OK;
use clap::Args;
use locksim_models::library::{self, Profile, Version};
use serde_json::json;

#[derive(Args, Debug)]
pub struct LibrariesArgs {
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Prints every profile.
pub fn libraries(args: &LibrariesArgs) -> i32 {
    let profiles = library::all();
    if args.json {
        let list: Vec<_> = profiles.iter().map(|p| to_json(p)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).expect("JSON of plain data")
        );
    } else {
        print!("{}", text(&profiles));
    }
    EXIT_OK
}

fn current(p: &Profile) -> Version {
    Version::parse(p.current).expect("profile versions parse")
}

fn to_json(p: &Profile) -> serde_json::Value {
    let cfg = p.at(&current(p));
    json!({
        "name": p.name,
        "about": p.about,
        "repo": p.repo,
        "algorithm": cfg.algorithm.name(),
        "first": p.first,
        "current": p.current,
        "changes": p.changes.iter().map(|c| json!({
            "since": c.since,
            "what": c.what,
            "source": c.source,
        })).collect::<Vec<_>>(),
    })
}

/// The text listing: one block per profile.
pub fn text(profiles: &[&Profile]) -> String {
    let mut out = String::new();
    for p in profiles {
        let cfg = p.at(&current(p));
        out.push_str(&format!(
            "{}  ({}; algorithm {})\n  {}  first {}, current {}\n",
            p.name,
            p.about,
            cfg.algorithm.name(),
            p.repo,
            p.first,
            p.current
        ));
        for c in p.changes {
            out.push_str(&format!("  {:>14}  {}\n", c.since, c.what));
        }
        out.push('\n');
    }
    out.push_str("Use one in a scenario: [lock] library = \"NAME@VERSION\" (a version gets every change at or before it).\n");
    out
}
