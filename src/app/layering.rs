//! The house rule, checked: modules import only from lower layers, and the domain
//! siblings (`deploy`, `report`, `gates`) not from each other. Reads every `crate::`
//! path in `src/` (in `use` items and in code), so an upward arrow anywhere fails here
//! with its file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Layer of each top-level module, lowest first. Modules on one layer may not import
/// each other, except the foundation, whose modules are leaves by nature.
const LAYERS: &[(&str, u8)] = &[
    ("exit", 0),
    ("error", 0),
    ("term", 0),
    ("duration", 0),
    ("signals", 0),
    ("aws", 1),
    ("logscan", 2),
    ("deploy", 3),
    ("report", 3),
    ("gates", 3),
    ("doctor", 3),
    ("notify", 3),
    ("remediate", 3),
    ("investigate", 3),
    ("cli", 4),
    ("settings", 5),
    ("app", 6),
    ("main", 7),
];

/// One import against the order.
#[derive(Debug, PartialEq)]
struct Violation {
    file: String,
    line: usize,
    from: String,
    to: String,
}

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// The top-level module a source file belongs to (`src/report/collect.rs` → `report`).
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

/// Every `crate::<module>` a text names, with its line: plain paths and the names
/// inside `crate::{a, b::c}` groups. Comments are skipped.
fn crate_refs(text: &str) -> Vec<(usize, String)> {
    let mut refs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(pos) = rest.find("crate::") {
            let after = &rest[pos + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                // A group may span lines; the first line is enough for the names
                // that start on it, and `use` groups are rustfmt'ed one per line.
                for part in group.split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        refs.push((i + 1, name));
                    }
                }
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    refs.push((i + 1, name));
                }
            }
            rest = after;
        }
    }
    refs
}

/// Continuation lines of a multi-line `use crate::{` group, attributed to its first line.
fn group_refs(text: &str) -> Vec<(usize, String)> {
    let mut refs = Vec::new();
    let mut open: Option<(usize, i32)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("");
        match open {
            Some((start, depth)) => {
                if depth == 1 {
                    let name: String = line
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != "self" {
                        refs.push((start, name));
                    }
                }
                let depth =
                    depth + line.matches('{').count() as i32 - line.matches('}').count() as i32;
                open = (depth > 0).then_some((start, depth));
            }
            None => {
                if let Some(pos) = line.find("crate::{") {
                    let tail = &line[pos..];
                    let depth = tail.matches('{').count() as i32 - tail.matches('}').count() as i32;
                    if depth > 0 {
                        open = Some((i + 1, depth));
                    }
                }
            }
        }
    }
    refs
}

fn violations(files: &BTreeMap<PathBuf, String>) -> Vec<Violation> {
    let mut out = Vec::new();
    for (rel, text) in files {
        let from = module_of(rel);
        let Some(from_layer) = layer(&from) else {
            out.push(Violation {
                file: rel.display().to_string(),
                line: 1,
                from: from.clone(),
                to: "(a module missing from the layer table)".into(),
            });
            continue;
        };
        let mut refs = crate_refs(text);
        refs.extend(group_refs(text));
        for (line, to) in refs {
            // Macros exported at the crate root belong to the module that defines them.
            let to = macro_owner(&to).map(str::to_owned).unwrap_or(to);
            if to == from || to == "self" || to == "super" {
                continue;
            }
            let Some(to_layer) = layer(&to) else {
                continue;
            };
            let sibling = to_layer == from_layer && from_layer != 0;
            if to_layer > from_layer || sibling {
                out.push(Violation {
                    file: rel.display().to_string(),
                    line,
                    from: from.clone(),
                    to,
                });
            }
        }
    }
    out
}

/// `#[macro_export]` macros live at the crate root; `config_section!` is the settings layer's.
fn macro_owner(name: &str) -> Option<&'static str> {
    (name == "config_section").then_some("settings")
}

fn source_files(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src/") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("under src/").to_path_buf();
                files.insert(rel, std::fs::read_to_string(&path).expect("read source"));
            }
        }
    }
    files
}

#[test]
fn imports_follow_the_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = source_files(&root);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let found = violations(&files);
    let listed: Vec<String> = found
        .iter()
        .map(|v| {
            format!(
                "src/{}:{}: `{}` imports `{}`, which is not below it",
                v.file, v.line, v.from, v.to
            )
        })
        .collect();
    assert!(
        listed.is_empty(),
        "layering violations:\n{}",
        listed.join("\n")
    );
}

#[test]
fn an_upward_or_sibling_import_is_caught() {
    let mut files = BTreeMap::new();
    files.insert(
        PathBuf::from("aws/evidence.rs"),
        "use crate::error::Result;\nuse crate::report::model::TaskFacts;\n".to_owned(),
    );
    files.insert(
        PathBuf::from("report/collect.rs"),
        "fn f() {\n    let s = crate::deploy::sha_of(None); // a comment naming crate::app\n}\n"
            .to_owned(),
    );
    files.insert(
        PathBuf::from("logscan/analyse.rs"),
        "use crate::{\n    error::Result,\n    settings::Sources,\n};\n".to_owned(),
    );
    files.insert(
        PathBuf::from("app/mod.rs"),
        "use crate::settings::Sources;\n".to_owned(),
    );
    let found = violations(&files);
    let pairs: Vec<(&str, usize, &str)> = found
        .iter()
        .map(|v| (v.file.as_str(), v.line, v.to.as_str()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("aws/evidence.rs", 2, "report"),
            ("logscan/analyse.rs", 1, "settings"),
            ("report/collect.rs", 2, "deploy"),
        ]
    );
}

#[test]
fn group_imports_on_one_line_are_read() {
    let refs = crate_refs("use crate::{aws::Clients, gates};");
    assert_eq!(refs, vec![(1, "aws".to_owned()), (1, "gates".to_owned())]);
}
