//! The app's route table, for a runner that answers clients itself (Knative, a plain
//! Kubernetes Deployment): the same patterns and the same precedence as the gateway's
//! router (`src/router/route-table.ts`), so a request picks the same function either way.
//!
//! Patterns: literal segments, `:param` segments, and a trailing `*rest`. Literal beats
//! `:param` beats `*rest`, segment by segment; a path that matches only with another
//! method is a 405 with the methods that would have matched. A `GET` route answers `HEAD`
//! too unless a route on the path answers `HEAD` itself, and `allow` lists `HEAD` wherever
//! it lists `GET`. A fallback route answers only paths no ordinary route matches.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::accept::Accept;

/// One `[[routes]]` entry of `rustless.toml`.
#[derive(Debug, PartialEq)]
pub struct Route {
    /// Upper-case methods, or `["*"]` for any.
    pub methods: Vec<String>,
    /// The pattern as written.
    pub path: String,
    /// The function that answers, as registered with the runner.
    pub function: String,
    /// Past this the client gets a 504.
    pub timeout: Duration,
    /// `fallback = true`: matched only when no ordinary route's pattern matches the path.
    pub fallback: bool,
    /// The request bodies it takes (`accept`; JSON only by default).
    pub accept: Accept,
}

/// What a request matched.
#[derive(Debug, PartialEq)]
pub enum Match<'a> {
    /// A route, with its params decoded.
    Found(&'a Route, BTreeMap<String, String>),
    /// The path matched, the method did not: the methods that would have, sorted.
    MethodNotAllowed(Vec<String>),
    NotFound,
}

#[derive(Debug, PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
    Wildcard(String),
}

#[derive(Default)]
struct Node {
    literals: HashMap<String, Node>,
    param: Option<Box<Node>>,
    /// Routes ending here (index into `routes`).
    entries: Vec<usize>,
    /// Routes ending in a `*rest` below this node.
    wildcards: Vec<usize>,
}

/// Every route of the app, in one trie.
#[derive(Default)]
pub struct RouteTable {
    root: Node,
    routes: Vec<(Route, Vec<String>)>,
}

impl RouteTable {
    /// Adds a route; an error names the pattern and what is wrong with it.
    pub fn add(&mut self, route: Route) -> Result<(), String> {
        let segments = parse_pattern(&route.path)?;
        if route.methods.is_empty() {
            return Err(format!("route {} has no method", route.path));
        }
        let names = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Literal(_) => None,
                Segment::Param(n) | Segment::Wildcard(n) => Some(n.clone()),
            })
            .collect();
        let index = self.routes.len();
        let mut node = &mut self.root;
        let mut wildcard = false;
        for segment in segments {
            match segment {
                Segment::Literal(value) => node = node.literals.entry(value).or_default(),
                Segment::Param(_) => node = node.param.get_or_insert_with(Box::default),
                Segment::Wildcard(_) => {
                    wildcard = true;
                    break;
                }
            }
        }
        if wildcard {
            node.wildcards.push(index);
        } else {
            node.entries.push(index);
        }
        self.routes.push((route, names));
        Ok(())
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// The route added last, to set what it accepts.
    pub fn last_mut(&mut self) -> Option<&mut Route> {
        self.routes.last_mut().map(|(route, _)| route)
    }

    /// The functions the routes name.
    pub fn functions(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|(r, _)| r.function.as_str())
    }

    /// Matches a method (as sent) and a request path (no query).
    pub fn find(&self, method: &str, path: &str) -> Match<'_> {
        let segments = match split_path(path) {
            Some(s) => s,
            None => return Match::NotFound,
        };
        let method = method.to_ascii_uppercase();
        let mut candidates = Vec::new();
        walk(&self.root, &segments, 0, &mut Vec::new(), &mut candidates);
        // Fallbacks only get a path no ordinary route matches, whatever the method.
        let (fallbacks, ordinary): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|(index, _)| self.routes[*index].0.fallback);
        self.pick(if ordinary.is_empty() { fallbacks } else { ordinary }, &method)
    }

    /// The most specific candidate answering `method`; for HEAD, one answering GET when
    /// none routes HEAD.
    fn pick(&self, candidates: Vec<(usize, Vec<String>)>, method: &str) -> Match<'_> {
        let answers = |m: &str| {
            candidates.iter().position(|(index, _)| {
                self.routes[*index].0.methods.iter().any(|allowed| allowed == "*" || allowed == m)
            })
        };
        let hit = answers(method).or_else(|| if method == "HEAD" { answers("GET") } else { None });
        if let Some(at) = hit {
            let (index, values) = candidates.into_iter().nth(at).unwrap_or_default();
            let (route, names) = &self.routes[index];
            let params = names.iter().cloned().zip(values).collect();
            return Match::Found(route, params);
        }
        let mut allowed = BTreeSet::new();
        for (index, _) in &candidates {
            allowed.extend(self.routes[*index].0.methods.iter().cloned());
        }
        if allowed.contains("GET") {
            allowed.insert("HEAD".to_string());
        }
        if allowed.is_empty() {
            Match::NotFound
        } else {
            Match::MethodNotAllowed(allowed.into_iter().collect())
        }
    }
}

/// Every route whose pattern matches, most specific first, with its captured values.
fn walk(
    node: &Node,
    segments: &[String],
    index: usize,
    values: &mut Vec<String>,
    out: &mut Vec<(usize, Vec<String>)>,
) {
    if index == segments.len() {
        out.extend(node.entries.iter().map(|&e| (e, values.clone())));
    } else {
        let segment = &segments[index];
        if let Some(literal) = node.literals.get(segment) {
            walk(literal, segments, index + 1, values, out);
        }
        if let Some(param) = &node.param {
            values.push(segment.clone());
            walk(param, segments, index + 1, values, out);
            values.pop();
        }
        // A `*rest` takes at least one segment.
        let rest = segments[index..].join("/");
        for &e in &node.wildcards {
            let mut captured = values.clone();
            captured.push(rest.clone());
            out.push((e, captured));
        }
    }
}

fn parse_pattern(path: &str) -> Result<Vec<Segment>, String> {
    if !path.starts_with('/') {
        return Err(format!("route path must start with \"/\", got {:?}", path));
    }
    if path == "/" {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = path[1..].split('/').collect();
    let mut names = BTreeSet::new();
    let mut segments = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(format!("route path {:?} has an empty segment", path));
        }
        let (kind, name) = match part.as_bytes()[0] {
            b':' => (b':', &part[1..]),
            b'*' => (b'*', &part[1..]),
            _ => {
                segments.push(Segment::Literal(part.to_string()));
                continue;
            }
        };
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid || !names.insert(name.to_string()) {
            return Err(format!("route path {:?} has an invalid or repeated parameter {:?}", path, part));
        }
        if kind == b'*' {
            if i != parts.len() - 1 {
                return Err(format!("route path {:?}: {:?} must be the last segment", path, part));
            }
            segments.push(Segment::Wildcard(name.to_string()));
        } else {
            segments.push(Segment::Param(name.to_string()));
        }
    }
    Ok(segments)
}

/// Splits and percent-decodes a request path; `None` when it cannot be decoded (as the
/// gateway's `decodeURIComponent` refuses it). A trailing slash is forgiven.
fn split_path(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('/')?;
    let mut parts: Vec<&str> = rest.split('/').collect();
    if parts.last() == Some(&"") {
        parts.pop();
    }
    parts.into_iter().map(decode_segment).collect()
}

/// `decodeURIComponent`: `%XX` escapes become bytes that must form UTF-8; `+` stays.
fn decode_segment(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, &str, &str)]) -> RouteTable {
        let mut t = RouteTable::default();
        for (methods, path, function) in routes {
            // A leading `!` marks a fallback route.
            let (fallback, path) = match path.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, *path),
            };
            t.add(Route {
                methods: methods.split(',').map(String::from).collect(),
                path: path.to_string(),
                function: function.to_string(),
                timeout: Duration::from_secs(30),
                fallback,
                accept: Accept::default(),
            })
            .unwrap();
        }
        t
    }

    fn found(t: &RouteTable, method: &str, path: &str) -> (String, BTreeMap<String, String>) {
        match t.find(method, path) {
            Match::Found(route, params) => (route.function.clone(), params),
            other => panic!("{} {}: {:?}", method, path, other),
        }
    }

    fn params(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn literal_beats_param_beats_wildcard() {
        let t = table(&[
            ("GET", "/files/*rest", "Rest"),
            ("GET", "/files/:name", "Named"),
            ("GET", "/files/readme", "Readme"),
        ]);
        assert_eq!(found(&t, "GET", "/files/readme"), ("Readme".into(), params(&[])));
        assert_eq!(found(&t, "GET", "/files/x"), ("Named".into(), params(&[("name", "x")])));
        assert_eq!(found(&t, "GET", "/files/a/b"), ("Rest".into(), params(&[("rest", "a/b")])));
        // `*rest` needs at least one segment.
        assert_eq!(t.find("GET", "/files"), Match::NotFound);
    }

    #[test]
    fn falls_back_to_a_less_specific_route_on_the_method() {
        let t = table(&[("GET", "/todos/:id", "Get"), ("DELETE", "/todos/archive", "Archive")]);
        assert_eq!(found(&t, "GET", "/todos/archive"), ("Get".into(), params(&[("id", "archive")])));
    }

    #[test]
    fn wrong_method_is_405_with_the_allowed_ones_sorted() {
        let t = table(&[("PUT,GET", "/echo", "Echo"), ("POST", "/echo", "Post"), ("*", "/any", "Any")]);
        assert_eq!(
            t.find("DELETE", "/echo"),
            Match::MethodNotAllowed(vec!["GET".into(), "HEAD".into(), "POST".into(), "PUT".into()])
        );
        assert_eq!(found(&t, "post", "/echo").0, "Post");
        assert_eq!(found(&t, "PATCH", "/any").0, "Any");
        assert_eq!(t.find("GET", "/nothing"), Match::NotFound);
    }

    #[test]
    fn a_get_route_answers_head_unless_a_route_answers_head_itself() {
        let t = table(&[("GET", "/a", "GetA"), ("GET", "/b/:x", "GetB"), ("HEAD", "/b/c", "HeadC")]);
        assert_eq!(found(&t, "HEAD", "/a").0, "GetA");
        assert_eq!(found(&t, "HEAD", "/b/c").0, "HeadC");
        assert_eq!(found(&t, "HEAD", "/b/d").0, "GetB");
        assert_eq!(t.find("POST", "/a"), Match::MethodNotAllowed(vec!["GET".into(), "HEAD".into()]));
    }

    #[test]
    fn a_fallback_answers_only_paths_no_ordinary_route_matches() {
        let t = table(&[("*", "!/*rest", "Fallback"), ("GET", "/hello/:name", "Hello")]);
        assert_eq!(found(&t, "GET", "/hello/bob").0, "Hello");
        assert_eq!(found(&t, "POST", "/other/path").0, "Fallback");
        // The ordinary route's 405 stays a 405: the fallback never takes it.
        assert_eq!(t.find("POST", "/hello/bob"), Match::MethodNotAllowed(vec!["GET".into(), "HEAD".into()]));
    }

    #[test]
    fn decodes_segments_and_forgives_a_trailing_slash() {
        let t = table(&[("GET", "/hello/:name", "Hello"), ("GET", "/", "Root")]);
        assert_eq!(found(&t, "GET", "/hello/b%C3%B6b%20x").1, params(&[("name", "böb x")]));
        assert_eq!(found(&t, "GET", "/hello/a+b").1, params(&[("name", "a+b")]));
        assert_eq!(found(&t, "GET", "/hello/bob/").0, "Hello");
        assert_eq!(found(&t, "GET", "/").0, "Root");
        // Bad escapes and escapes that are not UTF-8 match nothing, as in the gateway.
        assert_eq!(t.find("GET", "/hello/%zz"), Match::NotFound);
        assert_eq!(t.find("GET", "/hello/%ff"), Match::NotFound);
        assert_eq!(t.find("GET", "no-slash"), Match::NotFound);
    }

    #[test]
    fn refuses_bad_patterns() {
        for bad in ["nope", "/a//b", "/:1x", "/*rest/more", "/:a/:a", "/:"] {
            let mut t = RouteTable::default();
            let route = Route {
                methods: vec!["GET".into()],
                path: bad.into(),
                function: "F".into(),
                timeout: Duration::from_secs(1),
                fallback: false,
                accept: Accept::default(),
            };
            assert!(t.add(route).is_err(), "{}", bad);
        }
    }
}
