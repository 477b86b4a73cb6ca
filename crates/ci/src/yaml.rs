//! A located view of a YAML document: every node with the line and column
//! (1-based) where it starts in the source, built from `yaml-rust2`'s
//! event stream. The typed model (`github-actions-models`) says what a
//! workflow means; this view says where each part of it is written.
//!
//! Aliases are resolved to a copy of the anchored node (which keeps the
//! anchor's position). Only the first document of a stream is kept, as
//! GitHub reads it.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Byte offset.
    pub offset: usize,
    /// Line, 1-based.
    pub line: u32,
    /// Column, 1-based, in characters.
    pub column: u32,
}

/// A YAML node and where it is.
#[derive(Debug, Clone)]
pub struct Node {
    /// What it holds.
    pub value: Value,
    /// Where it starts.
    pub start: Pos,
    /// Where the next node (or the end of its parent) starts: the node's
    /// text lies before it.
    pub end: Pos,
}

/// The value of a node.
#[derive(Debug, Clone)]
pub enum Value {
    /// A scalar (strings, numbers, booleans and nulls alike, as written),
    /// and whether it was a block scalar (`|`, `>`).
    Scalar(String, bool),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value of `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The `i`th item of a sequence.
    pub fn idx(&self, i: usize) -> Option<&Node> {
        match &self.value {
            Value::Seq(items) => items.get(i),
            _ => None,
        }
    }

    /// The scalar's text.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// The items of a sequence (nothing for other nodes).
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// The entries of a mapping (nothing for other nodes).
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// Every scalar under this node (itself included), depth first, keys
    /// and values.
    pub fn scalars<'a>(&'a self, out: &mut Vec<&'a Node>) {
        match &self.value {
            Value::Scalar(..) => out.push(self),
            Value::Seq(items) => items.iter().for_each(|n| n.scalars(out)),
            Value::Map(entries) => {
                for (k, v) in entries {
                    k.scalars(out);
                    v.scalars(out);
                }
            }
        }
    }
}

/// A YAML syntax error and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Line, 1-based.
    pub line: u32,
    /// Column, 1-based.
    pub column: u32,
}

fn pos(source: &str, m: Marker) -> Pos {
    // yaml-rust2 counts characters: find the byte offset of the marker's
    // line and column.
    let line = m.line().max(1);
    let line_start = source
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum::<usize>();
    let col = m.col();
    let rest = &source[line_start.min(source.len())..];
    let offset = line_start + rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i);
    Pos {
        offset,
        line: line as u32,
        column: col as u32 + 1,
    }
}

enum Open {
    Seq(Vec<Node>, Pos, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Pos, usize),
}

struct Builder<'s> {
    source: &'s str,
    stack: Vec<Open>,
    anchors: Vec<(usize, Node)>,
    root: Option<Node>,
    done: bool,
}

impl Builder<'_> {
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
                self.done = true;
            }
            Some(Open::Seq(items, ..)) => items.push(node),
            Some(Open::Map(entries, key, ..)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.done {
            return;
        }
        let at = pos(self.source, mark);
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                let block = matches!(style, TScalarStyle::Literal | TScalarStyle::Folded);
                let node = Node {
                    value: Value::Scalar(text, block),
                    start: at,
                    end: at,
                };
                self.push(node, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::Seq(Vec::new(), at, anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map(Vec::new(), None, at, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, start, anchor) = match self.stack.pop() {
                    Some(Open::Seq(items, start, anchor)) => (Value::Seq(items), start, anchor),
                    Some(Open::Map(entries, _, start, anchor)) => {
                        (Value::Map(entries), start, anchor)
                    }
                    None => return,
                };
                self.push(
                    Node {
                        value,
                        start,
                        end: at,
                    },
                    anchor,
                );
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone())
                    .unwrap_or(Node {
                        value: Value::Scalar(String::new(), false),
                        start: at,
                        end: at,
                    });
                self.push(node, 0);
            }
            _ => {}
        }
    }
}

/// Fix every node's end: the start of what follows it in its parent, or
/// the parent's end.
fn fix_ends(node: &mut Node, end: Pos) {
    node.end = end;
    match &mut node.value {
        Value::Scalar(..) => {}
        Value::Seq(items) => {
            let starts: Vec<Pos> = items.iter().skip(1).map(|n| n.start).collect();
            for (i, item) in items.iter_mut().enumerate() {
                let e = starts.get(i).copied().unwrap_or(end);
                fix_ends(item, e);
            }
        }
        Value::Map(entries) => {
            let starts: Vec<Pos> = entries.iter().skip(1).map(|(k, _)| k.start).collect();
            for (i, (k, v)) in entries.iter_mut().enumerate() {
                let e = starts.get(i).copied().unwrap_or(end);
                let vs = v.start;
                fix_ends(k, vs);
                fix_ends(v, e);
            }
        }
    }
}

/// Parse the first document of `source`; `Ok(None)` for an empty stream.
pub fn parse(source: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder {
        source,
        stack: Vec::new(),
        anchors: Vec::new(),
        root: None,
        done: false,
    };
    let mut parser = Parser::new_from_str(source);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parser.load(&mut builder, false)
    }));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let at = pos(source, *e.marker());
            return Err(SyntaxError {
                message: e.info().to_string(),
                line: at.line,
                column: at.column,
            });
        }
        Err(_) => {
            return Err(SyntaxError {
                message: "the YAML parser failed on this document".into(),
                line: 1,
                column: 1,
            });
        }
    }
    let end = Pos {
        offset: source.len(),
        line: source.lines().count().max(1) as u32,
        column: 1,
    };
    Ok(builder.root.map(|mut root| {
        fix_ends(&mut root, end);
        root
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_in_characters() {
        let src = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest # é\n    steps:\n      - run: |\n          echo é\n          make\n      - uses: a/b@v1\n";
        let root = parse(src).unwrap().unwrap();
        let (k, v) = root.get("jobs").unwrap().entry("build").unwrap();
        assert_eq!((k.start.line, k.start.column), (3, 3));
        let ro = v.get("runs-on").unwrap();
        assert_eq!((ro.start.line, ro.start.column), (4, 14));
        assert_eq!(ro.as_str(), Some("ubuntu-latest"));
        let steps = v.get("steps").unwrap();
        let run = steps.idx(0).unwrap().get("run").unwrap();
        assert_eq!(run.as_str(), Some("echo é\nmake\n"));
        assert!(src[run.start.offset..run.end.offset].contains("make"));
        assert!(!src[run.start.offset..run.end.offset].contains("a/b"));
        let uses = steps.idx(1).unwrap().get("uses").unwrap();
        assert_eq!((uses.start.line, uses.start.column), (9, 15));
        assert_eq!(&src[uses.start.offset..uses.start.offset + 6], "a/b@v1");
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("jobs:\n  a: [\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        assert!(parse("").unwrap().is_none());
    }

    #[test]
    fn aliases_resolve() {
        let root = parse("a: &x {k: 1}\nb: *x\n").unwrap().unwrap();
        assert_eq!(root.get("b").unwrap().get("k").unwrap().as_str(), Some("1"));
    }
}
