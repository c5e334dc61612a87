//! The crate's structure, checked: each folder of `src/` is a layer and a module imports
//! only from its own layer or those below it; no two modules import each other, however
//! indirectly; DynamoDB (the SDK and every key format) is only spoken of in `store/`.
//!
//! Layers, lowest first: the foundation (`config`, `deadline`, `auth`), `domain`,
//! `store`, `service`, `app` and `metrics`, `http`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer of a module path such as `store::tx` or `http::dialect::plain`.
fn layer(module: &str) -> Option<(u8, &'static str)> {
    let top = module.split("::").next().unwrap_or_default();
    Some(match top {
        "config" | "deadline" | "auth" => (0, "foundation"),
        "domain" => (1, "domain"),
        "store" => (2, "store"),
        "service" | "app" | "metrics" => (3, "service"),
        "http" => (4, "http"),
        _ => return None,
    })
}

/// Every source file of the crate with its module path (`store/tx.rs` → `store::tx`).
fn modules() -> BTreeMap<String, (PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path
                .strip_prefix(&src)
                .expect("under src")
                .with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let module = parts.join("::");
            if module == "lib" || module == "hostile_input" || module == "testing" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            out.insert(module, (path, text));
        }
    }
    out
}

/// The code of a file without its unit tests (`#[cfg(test)] mod tests`), which may
/// reach anywhere, and without comments (a doc link is not an import).
fn without_tests(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The crate modules a file refers to (`crate::store::keys::user` → the longest known
/// module prefix, `store::keys`), with `super::` resolved.
fn imports(module: &str, text: &str, known: &BTreeSet<&str>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let code = without_tests(text);
    let code = code.as_str();
    let parent: Vec<&str> = {
        let mut p: Vec<&str> = module.split("::").collect();
        p.pop();
        p
    };
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            rest = &rest[i + prefix.len()..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut parts: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
            parts.extend(
                path.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            // Also `use crate::x::{a, b}`: the prefix before the brace is a module.
            while !parts.is_empty() {
                let candidate = parts.join("::");
                if known.contains(candidate.as_str()) {
                    if candidate != module {
                        found.insert(candidate);
                    }
                    break;
                }
                parts.pop();
            }
        }
    }
    found
}

#[test]
fn imports_only_go_down_the_layers_and_never_in_a_circle() {
    let modules = modules();
    let known: BTreeSet<&str> = modules.keys().map(String::as_str).collect();
    let mut graph: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut upward = Vec::new();
    for (module, (_, text)) in &modules {
        let (rank, name) = layer(module).unwrap_or_else(|| panic!("{module}: no layer"));
        let deps = imports(module, text, &known);
        for dep in &deps {
            let (dep_rank, dep_name) = layer(dep).unwrap_or_else(|| panic!("{dep}: no layer"));
            if dep_rank > rank {
                upward.push(format!("{module} ({name}) imports {dep} ({dep_name})"));
            }
        }
        graph.insert(module, deps);
    }
    // No circles: a depth-first search finds no back edge.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<&str, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, bool>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(m) {
            Some(true) => return None,
            Some(false) => {
                let start = path.iter().position(|p| *p == m).unwrap_or(0);
                let mut cycle: Vec<String> =
                    path[start..].iter().map(|s| (*s).to_owned()).collect();
                cycle.push(m.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        state.insert(m, false);
        path.push(m);
        for dep in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(dep, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(m, true);
        None
    }
    let mut circles = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = visit(m, &graph, &mut BTreeMap::new(), &mut Vec::new()) {
            circles.insert(cycle.join(" -> "));
        }
    }
    let circles: Vec<String> = circles.into_iter().collect();
    assert!(
        upward.is_empty() && circles.is_empty(),
        "imports going up:\n{}\nmodules importing each other:\n{}",
        upward.join("\n"),
        circles.join("\n")
    );
}

#[test]
fn dynamodb_is_only_spoken_of_in_the_store() {
    let mut leaks = Vec::new();
    for (module, (path, text)) in modules() {
        if module.starts_with("store") || module == "app" {
            continue;
        }
        let code = without_tests(&text);
        for needle in [
            "aws_sdk_dynamodb",
            "\"USER#",
            "\"NAME#",
            "\"IDENT#",
            "\"DELETED#",
            "\"IDEMPOTENCY#",
            "\"TIMEPROFILE#",
            "DELETED#{",
            "IDEMPOTENCY#{",
        ] {
            if code.contains(needle) {
                leaks.push(format!("{}: {needle}", path.display()));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "storage outside store/:\n{}",
        leaks.join("\n")
    );
}
